"""Ablations of survey_denoising_sr_contrast_ablations.txt on one denoiser: skip
connection, normalization, activation (ReLU / LeakyReLU / sigmoid) and loss
(MSE / SSIM / perceptual), as ΔPSNR / ΔSSIM against the full model.

  python experiments/ablations.py --profile=cpu     # ~12 min on 2 shared CPU cores
  python experiments/ablations.py --profile=paper   # GPU/TPU (launch/)

Every variant is a row of the study config enhance_jax/configs/studies/ablations.py
(`variant=full|no_skip|no_norm|leaky_relu|sigmoid|ssim_loss`): the `cnn` denoiser with
a global skip, batch normalization, ReLU and MSE, one thing changed, trained on Train400
with AWGN σ=25 and scored on BSD68 σ=25 by its named eval set `bsd68_s25`. Writes
<results>/ablations.md, ablations.png and ablations_curves.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

STUDY = "ablations"
SET = "bsd68_s25"
LABELS = {"full": "full (skip, BN, ReLU, MSE)", "no_skip": "no skip connection",
          "no_norm": "no normalization", "leaky_relu": "LeakyReLU", "sigmoid": "sigmoid",
          "ssim_loss": "SSIM loss"}


def main():
  results = common.results_dir()
  runs = [common.train_row(STUDY, arg) for arg in common.rows(STUDY)]
  label = {r.arg: LABELS[r.arg.split("=", 1)[1]] for r in runs}
  full = runs[0]
  f_psnr, f_ssim = full.metric("psnr", SET), full.metric("ssim", SET)
  rows, chart = [], []
  for r in runs:
    psnr, ssim = r.metric("psnr", SET), r.metric("ssim", SET)
    rows.append([label[r.arg], r.config.loss, f"{psnr:.2f}", f"{psnr - f_psnr:+.2f}",
                 f"{ssim:.4f}", f"{ssim - f_ssim:+.4f}", f"{r.train_s:.0f}"])
    chart.append({"variant": label[r.arg], "ΔPSNR (dB)": psnr - f_psnr,
                  "ΔSSIM x 10": 10 * (ssim - f_ssim)})
  from enhance_jax import plots
  plots.bar_chart(chart[1:], "variant", ["ΔPSNR (dB)", "ΔSSIM x 10"], results / "ablations.png",
                  title=f"Ablations vs full model ({common.profile()})")
  plots.plot_curves({label[r.arg]: r.dir / "metrics.jsonl" for r in runs}, ["loss"],
                    results / "ablations_curves.png", title="training loss")
  c = full.config
  best = max(runs, key=lambda r: r.metric("psnr", SET))
  worst = min(runs, key=lambda r: r.metric("psnr", SET))
  first_loss = {r.arg: next((m["loss"] for m in common.read_jsonl(r.dir / "metrics.jsonl")
                             if m.get("split") == "train"), float("nan")) for r in runs}
  last_loss = {r.arg: [m["loss"] for m in common.read_jsonl(r.dir / "metrics.jsonl")
                       if m.get("split") == "train"][-1] for r in runs}
  mse_runs = [r for r in runs if r.config.loss == "mse"]
  loss_order = sorted(mse_runs, key=lambda r: last_loss[r.arg])
  notes = "\n\n".join([
      f"Model: `cnn`, depth {c.model.kwargs.depth}, {c.model.kwargs.features} channels, "
      f"{c.train.num_steps} steps of batch {c.train.batch_size} ({c.data.patch_size}x"
      f"{c.data.patch_size} Train400 patches, AWGN σ=25), Adam {c.optimizer.learning_rate:g}; "
      f"scored on the first {full.metric('num_images', SET)} BSD68 images at σ=25 (noisy input "
      f"{full.metric('input_psnr', SET):.2f} dB). 'no skip' removes the global input->output "
      "skip (the net must reproduce the image, not just the noise). Every row is scored with "
      "the same PSNR/SSIM, whatever its training loss.",
      f"Highest PSNR: {label[best.arg]} ({best.metric('psnr', SET):.2f} dB, "
      f"{best.metric('psnr', SET) - f_psnr:+.2f} dB vs full); lowest: {label[worst.arg]} "
      f"({worst.metric('psnr', SET):.2f} dB, {worst.metric('psnr', SET) - f_psnr:+.2f} dB). "
      "Final training loss (MSE rows, mean of the last logged interval), lowest first: "
      + ", ".join(f"{label[r.arg]} {last_loss[r.arg]:.5f}" for r in loss_order)
      + f" (first logged interval of the full model: {first_loss[full.arg]:.5f}).",
      "Perceptual (VGG) loss: not run — the regression trainer has no VGG loss term and no "
      "VGG weights are in the shared data; `gan.perceptual_weight` + `gan.vgg_weights` exist "
      "only in the adversarial trainer.",
  ])
  extra = "![deltas](ablations.png)\n\n![training loss](ablations_curves.png)"
  common.write_table(results / "ablations.md", "Ablations on a small denoiser (BSD68 σ=25)",
                     ["variant", "loss", "PSNR", "ΔPSNR", "SSIM", "ΔSSIM", "train s"], rows,
                     notes=notes, extra=extra,
                     commands=[(label[r.arg], r, SET) for r in runs])


if __name__ == "__main__":
  common.run(main)
