"""Denoising study: the BSD68 σ = 15 / 25 / 50 table of nonlocal_networks_denoising_bsd68.txt.

  python experiments/denoising_bsd68.py --profile=cpu     # ~10 min on 2 shared CPU cores
  python experiments/denoising_bsd68.py --profile=paper   # GPU/TPU (launch/)

Rows: BM3D (classical, experiments/configs/baselines/bm3d_bsd68_s25.py), the
imported official DnCNN-S and FFDNet (scores from experiments/results/pretrained.json,
written by experiments/reproduce_pretrained.py on all 68 images), and DnCNN, a
non-local CNN and NLRN trained here on Train400 (train_and_evaluate), then scored
on BSD68 by the evaluator. Protocol everywhere: x + σ/255·N(0,1), not clipped,
output rounded to uint8, PSNR on the full image, noise key = image index.
Writes experiments/results/denoising_bsd68.md and denoising_bsd68.png.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

_PROFILE = flags.DEFINE_enum("profile", "cpu", list(common.PROFILES), "Study profile.")
_WORKDIR = flags.DEFINE_string("runs_dir", None, "Runs go here (default runs/denoising_<profile>).")

SIGMAS = (15, 25, 50)
PUBLISHED = {"BM3D": (31.07, 28.57, 25.62), "DnCNN": (31.72, 29.23, 26.23),
             "NLRN": (31.88, 29.41, 26.47), "FFDNet": (31.62, 29.19, 26.30)}
IMPORTED = {"DnCNN": "dncnn_s{s}:", "FFDNet": "ffdnet_gray:sigma={s}"}

# Trained models: (label, published row, model name, kwargs per profile).
NETS = [
    ("DnCNN (ours)", "DnCNN", "dncnn",
     {"cpu": dict(depth=6, features=24), "paper": dict(depth=17, features=64)}),
    ("non-local CNN (ours)", None, "nonlocal_cnn",
     {"cpu": dict(depth=6, features=24, nl_window=15, nl_inter_channels=12),
      "paper": dict(depth=17, features=64, nl_window=45)}),
    ("NLRN (ours)", "NLRN", "nlrn",
     {"cpu": dict(features=24, steps=3, inter_channels=12, window=15),
      "paper": dict(features=128, steps=12, inter_channels=64, window=45)}),
]

# Profile settings: which sigmas the networks train at, steps, eval images, BM3D images.
PROFILE = {
    # cpu: per-net steps (the non-local nets run ~0.5 step/s on the loaded 2 cores).
    "cpu": dict(net_sigmas=(25,), steps=400, net_steps={"nonlocal_cnn": 150, "nlrn": 100},
                batch=8, patch=40, lr=1e-3, eval_images=4, bm3d_images={15: 2, 25: 68, 50: 2}),
    "paper": dict(net_sigmas=SIGMAS, steps=200_000, batch=128, patch=40, lr=1e-3,
                  eval_images=0, bm3d_images={15: 0, 25: 0, 50: 0}),
}


def net_config(model: str, kwargs: dict, sigma: int, p: dict):
  """Train400, AWGN σ (not clipped), L2 loss, Adam (DnCNN's recipe)."""
  p = {**p, "steps": p.get("net_steps", {}).get(model, p["steps"])}
  c = common.load_config("default.py")
  c.model.name = model
  c.model.kwargs = dict(kwargs)
  c.data.name = "train400"
  c.data.train_split = "train"
  c.data.eval_split = "train"          # in-run eval on training images; BSD68 below
  c.data.channels = 1
  c.data.patch_size = p["patch"]
  c.data.degrade = f"gaussian_noise(sigma={sigma})"
  c.data.max_eval_images = 2
  c.data.eval_max_size = 64
  c.loss = "l2"
  c.optimizer.learning_rate = p["lr"]
  c.optimizer.warmup_steps = min(20, p["steps"] // 10)
  c.train.batch_size = p["batch"]
  c.train.num_steps = p["steps"]
  c.train.eval_every = p["steps"]
  c.train.checkpoint_every = p["steps"]
  c.train.log_every = max(10, p["steps"] // 20)
  c.train.ema_decay = 0.0
  c.eval.grid_images = 1
  return c


def bsd68_eval_config(train_config, sigma: int, images: int):
  c = common.load_config("default.py")
  c.model = train_config.model
  c.data.name = "bsd68"
  c.data.eval_split = "test"
  c.data.channels = 1
  c.data.patch_size = train_config.data.patch_size
  c.data.degrade = f"gaussian_noise(sigma={sigma})"
  c.data.max_eval_images = images
  c.eval.use_ema = False
  c.eval.grid_images = 2
  return c


def main(argv):
  del argv
  profile = _PROFILE.value
  p = PROFILE[profile]
  work = Path(_WORKDIR.value or common.ROOT / "runs" / f"denoising_{profile}")
  rows, chart = [], []
  notes = []

  # Imported official weights, scored by reproduce_pretrained.py.
  pre_path = common.RESULTS / "pretrained.json"
  pre = json.loads(pre_path.read_text()) if pre_path.exists() else {}
  for label, key in IMPORTED.items():
    vals = [pre.get(key.format(s=s), {}).get("result") for s in SIGMAS]
    rows.append([f"{label} (official weights, imported)", "imported"]
                + [f"{v['psnr']:.2f} ({v['num_images']})" if v else "not run" for v in vals]
                + [" / ".join(f"{x:.2f}" for x in PUBLISHED[label])])
    chart.append({"method": f"{label} (imported)",
                  **{f"σ{s}": v["psnr"] for s, v in zip(SIGMAS, vals) if v}})

  # Trained here.
  subset = {}
  for label, published, model, kw in NETS:
    cells = []
    entry = {"method": label}
    for s in SIGMAS:
      if s not in p["net_sigmas"]:
        cells.append("not trained (cpu)")
        continue
      tc = net_config(model, kw[profile], s, p)
      run = common.train(tc, work / f"{model}_s{s}")
      ec = bsd68_eval_config(tc, s, p["eval_images"])
      r = common.evaluate(ec, workdir=run["workdir"], output_json=work / f"{model}_s{s}_bsd68.json")
      cells.append(f"{r['psnr']:.2f} ({r['num_images']})")
      entry[f"σ{s}"] = r["psnr"]
      subset[label] = (r, run["seconds"])
    pub = " / ".join(f"{x:.2f}" for x in PUBLISHED[published]) if published else "–"
    steps = p.get("net_steps", {}).get(model, p["steps"])
    rows.append([label, f"trained {steps} steps"] + cells + [pub])
    chart.append(entry)

  # BM3D through the evaluator (last: the slowest).
  bm3d = {}
  for s in SIGMAS:
    n = p["bm3d_images"][s]
    c = common.load_config("baselines/bm3d_bsd68_s25.py", f"sigma={s},max_images={n}")
    bm3d[s] = common.evaluate(c, output_json=work / f"bm3d_s{s}_n{n or 68}.json")
  rows.insert(0, ["BM3D (ours, bm3d package)", "classical"]
              + [f"{bm3d[s]['psnr']:.2f} ({bm3d[s]['num_images']})" for s in SIGMAS]
              + [" / ".join(f"{v:.2f}" for v in PUBLISHED["BM3D"])])
  chart.insert(0, {"method": "BM3D (ours)", **{f"σ{s}": bm3d[s]["psnr"] for s in SIGMAS}})

  columns = ["method", "kind"] + [f"σ={s} PSNR (images)" for s in SIGMAS] + ["published 15/25/50"]
  # Like-for-like on the evaluation subset (σ=25): BM3D's per-image scores on the same images.
  n = p["eval_images"] or 68
  names = ({x["name"] for x in next(iter(subset.values()))[0]["per_image"]} if subset else
           {x["name"] for x in bm3d[25]["per_image"][:n]})
  b_sub = [x for x in bm3d[25]["per_image"] if x["name"] in names]  # match by image name
  sub_rows = [["BM3D", f"{sum(x['psnr'] for x in b_sub) / len(b_sub):.2f}",
               f"{sum(x['ssim'] for x in b_sub) / len(b_sub):.4f}",
               f"{sum(x['input_psnr'] for x in b_sub) / len(b_sub):.2f}", "–"]]
  for label, (r, secs) in subset.items():
    sub_rows.append([label, f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", f"{r['input_psnr']:.2f}",
                     f"{secs:.0f}"])
  extra = (f"## σ=25 on the same {n} BSD68 images (first {n} of the set)\n\n"
           + common.markdown_table(["method", "PSNR", "SSIM", "noisy input PSNR",
                                    "train seconds"], sub_rows)
           + "\n![PSNR by method and σ](denoising_bsd68.png)\n")
  bm3d_gap = bm3d[25]["psnr"] - PUBLISHED["BM3D"][1]
  notes.append(f"BM3D σ=25 on {bm3d[25]['num_images']} images: {bm3d[25]['psnr']:.2f} dB vs "
               f"published 28.57 (Δ {bm3d_gap:+.2f} dB). Our noise is JAX "
               "`fold_in(PRNGKey(1234), i)` per image, not MATLAB `randn('seed',0)`, so about "
               "±0.02 dB of the gap is the noise draw."
               + ("" if bm3d[25]["num_images"] == 68 else
                  f" Only {bm3d[25]['num_images']} of 68 images were run, so this is NOT the "
                  "published comparison (per-image PSNR on BSD68 spans ~25-33 dB); run all 68 "
                  "(`--profile paper`, or set bm3d_images) for the 0.1 dB check."))
  notes.append("Imported DnCNN-S / FFDNet rows are the 68-image scores in "
               "`experiments/results/pretrained.json` (experiments/reproduce_pretrained.py).")
  if profile == "cpu":
    best = max(subset.items(), key=lambda kv: kv[1][0]["psnr"]) if subset else None
    bsub = float(sub_rows[0][1])
    if best and best[1][0]["psnr"] < bsub:
      notes.append(f"**Learned vs classical (cpu profile): every network trained here is below "
                   f"BM3D** (best {best[0]} {best[1][0]['psnr']:.2f} dB vs BM3D {bsub:.2f} dB on "
                   f"the same images). Why: 100-400 steps of batch {p['batch']} on "
                   f"{p['patch']}x{p['patch']} patches with ~6-layer, 24-channel networks is "
                   "about 0.01% of DnCNN's training (17 layers, 64 channels, 180k steps of batch "
                   "128); the imported DnCNN-S/FFDNet rows show what the full recipe gives "
                   "(+0.6 dB over BM3D). DnCNN and the non-local nets also use BatchNorm, which converges "
                   "slower in a few hundred steps (ablations.md: the same small net without "
                   "normalization ends ~2 dB better at this scale). "
                   "Run `--profile paper` for the real comparison.")
    elif best:
      notes.append(f"Best network trained here: {best[0]} ({best[1][0]['psnr']:.2f} dB vs BM3D "
                   f"{bsub:.2f} dB on the same images).")
    notes.append("cpu profile: networks trained at σ=25 only, 100-400 steps; BM3D "
                 "σ=25 on the first 4 images, σ=15/50 on the first 2 (the image count is in brackets in each cell).")
  from enhance_jax import plots
  plots.bar_chart(chart, "method", [f"σ{s}" for s in SIGMAS],
                  common.RESULTS / "denoising_bsd68.png",
                  title=f"BSD68 PSNR (dB), profile {profile}", ylim=(20, 33))
  common.write_table(common.RESULTS / "denoising_bsd68.md",
                     "Denoising: BSD68 σ = 15 / 25 / 50 (gray)", columns, rows, profile,
                     notes="\n\n".join(notes), extra=extra)


if __name__ == "__main__":
  app.run(main)
