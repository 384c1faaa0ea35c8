"""Survey study: Table 1 of survey_denoising_sr_contrast_ablations.txt — bilateral
filtering, wavelet denoising, bicubic SR, CNN denoising and GAN SR, PSNR and SSIM
side by side on BSD68 σ=25 (denoising) and Set5 x4 (SR).

  python experiments/survey_methods.py --profile=cpu     # ~10 min on 2 shared CPU cores
  python experiments/survey_methods.py --profile=paper   # GPU/TPU (launch/), DIV2K for the GAN

Classical rows run through the evaluator (experiments/configs/baselines/*.py).
CNN denoising = the official DnCNN-S σ=25 weights and CNN SR = official SRCNN
9-5-5 x4, scores from experiments/results/pretrained.json (reproduce_pretrained.py).
GAN SR = experiments/configs/sr_gan.py trained here (train_and_evaluate), scored on
Set5 x4 (Y, 4 px shaved) by the evaluator. Writes experiments/results/survey_methods.md
and survey_methods.png.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

_PROFILE = flags.DEFINE_enum("profile", "cpu", list(common.PROFILES), "Study profile.")
_WORKDIR = flags.DEFINE_string("runs_dir", None, "Runs go here (default runs/survey_<profile>).")

DENOISE = [("bilateral filter", "baselines/bilateral_bsd68_s25.py"),
           ("wavelet (BayesShrink)", "baselines/wavelet_bsd68_s25.py"),
           ("BM3D (reference)", "baselines/bm3d_bsd68_s25.py")]
GAN = {
    "cpu": dict(model=dict(scale=4, features=16, num_blocks=2, upsample_skip=True),
                disc=dict(features=16, n_blocks=2, dense=64), steps=600, batch=4, patch=48,
                ema=0.0),  # an EMA over a few hundred steps would still be the init
    "paper": dict(model=dict(scale=4, features=64, num_blocks=16, upsample_skip=True),
                  disc=dict(features=64, n_blocks=8, dense=1024), steps=200_000, batch=16,
                  patch=96, data="div2k", ema=0.999),
}


def gan_config(profile: str):
  g = GAN[profile]
  c = common.load_config("sr_gan.py")
  c.model.kwargs = dict(g["model"])
  c.gan.disc.kwargs = dict(g["disc"])
  c.data.name = g.get("data", "embedded")
  c.data.patch_size = g["patch"]
  c.train.batch_size = g["batch"]
  c.train.num_steps = g["steps"]
  c.train.eval_every = g["steps"]
  c.train.checkpoint_every = g["steps"]
  c.train.log_every = max(10, g["steps"] // 20)
  c.train.ema_decay = g["ema"]
  c.data.max_eval_images = 2
  c.eval.grid_images = 1
  return c


def set5_eval(config):
  c = common.load_config("sr_gan.py")
  c.model = config.model
  c.data.name = "set5"
  c.data.kwargs = dict(scale=4)      # ships the MATLAB-bicubic LR inputs
  c.data.degrade = ""
  c.data.scale = 4
  c.data.patch_size = config.data.patch_size
  c.data.eval_max_size = 0
  c.data.max_eval_images = 0
  c.eval.use_ema = bool(config.train.ema_decay)
  c.eval.round_uint8 = True
  c.eval.grid_images = 2
  c.task = "regression"
  return c


def main(argv):
  del argv
  profile = _PROFILE.value
  work = Path(_WORKDIR.value or common.ROOT / "runs" / f"survey_{profile}")
  rows, chart = [], []
  images = "" if profile == "paper" else ",max_images=68"

  def add(method, task, r, source):
    rows.append([method, task, f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", str(r["num_images"]), source])
    chart.append({"method": f"{method} ({task.split()[0]})", "PSNR": r["psnr"],
                  "SSIM x 30": 30 * r["ssim"]})

  den = {}
  for label, cfg in DENOISE:
    if label.startswith("BM3D"):
      c = common.load_config(cfg, "max_images=68")
    else:
      c = common.load_config(cfg, images.strip(","))
    den[label] = common.evaluate(c, output_json=work / (Path(cfg).stem + ".json"))
    add(label, "BSD68 σ=25", den[label], f"`{cfg}`")
  pre_path = common.RESULTS / "pretrained.json"
  pre = json.loads(pre_path.read_text()) if pre_path.exists() else {}
  if pre.get("dncnn_s25:", {}).get("result"):
    add("CNN denoising (DnCNN-S, official weights)", "BSD68 σ=25", pre["dncnn_s25:"]["result"],
        "pretrained.json")

  bic = common.evaluate(common.load_config("baselines/bicubic_set5_x4.py"),
                        output_json=work / "bicubic_set5_x4.json")
  add("bicubic", "Set5 x4 (Y)", bic, "`baselines/bicubic_set5_x4.py`")
  if pre.get("srcnn_955_x4:", {}).get("result"):
    add("CNN SR (SRCNN 9-5-5, official weights)", "Set5 x4 (Y)", pre["srcnn_955_x4:"]["result"],
        "pretrained.json")
  gc = gan_config(profile)
  run = common.train(gc, work / "sr_gan")
  gan = common.evaluate(set5_eval(gc), workdir=run["workdir"], output_json=work / "sr_gan_set5.json")
  add(f"GAN SR (ours, {gc.train.num_steps} steps)", "Set5 x4 (Y)", gan, "`sr_gan.py` trained here")

  notes = []
  if gan["psnr"] < bic["psnr"]:
    notes.append(f"**GAN SR is below bicubic here** ({gan['psnr']:.2f} vs {bic['psnr']:.2f} dB). "
                 f"Why: the cpu profile trains a 2-block, 16-channel generator for "
                 f"{gc.train.num_steps} steps of batch {gc.train.batch_size} on the embedded "
                 "photos (SRGAN: 16 blocks, 64 channels, ~10^5-10^6 steps on ImageNet/DIV2K), and "
                 "an adversarial loss trades PSNR for texture even when fully trained (SRGAN "
                 "reports lower PSNR than its MSE-trained SRResNet). The official SRCNN row shows "
                 "what a trained CNN gains over bicubic.")
  best_classic = max(den[k]["psnr"] for k in den if not k.startswith("BM3D"))
  notes.append(f"Denoising: the official DnCNN-S beats bilateral and wavelet filtering "
               f"(best classical here {best_classic:.2f} dB); BM3D is the strong classical "
               "reference.")
  notes.append("Bilateral: 9 px, σ_colour 0.2, σ_space 3 px; wavelet: db2 BayesShrink with the "
               "known σ — parameters in the config files. Imported-weight rows: 68 / 5 images "
               "from `experiments/results/pretrained.json`.")
  notes.append("![PSNR and SSIM](survey_methods.png)")
  from enhance_jax import plots
  plots.bar_chart(chart, "method", ["PSNR", "SSIM x 30"], common.RESULTS / "survey_methods.png",
                  title=f"Survey methods (profile {profile})")
  common.write_table(common.RESULTS / "survey_methods.md",
                     "Survey methods: denoising (BSD68 σ=25) and x4 SR (Set5)",
                     ["method", "task", "PSNR (dB)", "SSIM", "images", "source"], rows, profile,
                     notes="\n\n".join(notes))


if __name__ == "__main__":
  app.run(main)
