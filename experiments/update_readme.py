"""Writes experiments/README.md: the studies (what, command, runtime, choices)
and their latest results, pasted from experiments/results/*.md.

  python experiments/update_readme.py            # rewrite the README
  python experiments/update_readme.py --check    # exit 1 if it is out of date

Run it after a study script has written its results; nothing in the README's
results section is typed by hand.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name, results file stem, script, what it reproduces, choices made. Commands and
# runtimes come from the `python experiments/... # runtime` lines of each script's docstring.
STUDIES = [
    dict(name="Low-light enhancement", stem="lowlight", script="lowlight_study.py",
         reproduces="lowlight_mirnet_cnn_gan.txt (MIRNet, U-Net-like CNN autoencoder and GAN on "
         "LOL at 256x256; train/validation PSNR and loss curves) and Tasks 1-2 of "
         "cnn_enhancement_lowlight_inpainting.txt (plain CNN, Adam 1e-3, MSE, ~100 epochs; "
         "MIRNet). Baselines: gamma, histogram equalisation, CLAHE, Zero-DCE (official weights); "
         "DICM/LIME enhanced side by side.",
         choices="The CNN is 8 conv 3x3 + ReLU layers of 64 features mapping low to normal "
         "light (no residual); the autoencoder is our `unet` (5 levels, 32 base features, "
         "concat skips, transposed-conv up-sampling); MIRNet uses its own recipe (Charbonnier, "
         "Adam 2e-4 cosine); the GAN is lowlight_gan.py (U-Net G, conditional PatchGAN D, LSGAN, "
         "L1 + 0.01 adversarial). LOL training crops are 256x256, test on full 600x400 images. "
         "The cpu profile trains on synthetic low-light BSDS500 pairs (the shared data has one "
         "LOL pair) and tests on the synthetic BSDS500 test split and on LOL pair 778."),
    dict(name="Damage (black hole) removal", stem="damage_removal", script="damage_removal.py",
         reproduces="Task 3 of cnn_enhancement_lowlight_inpainting.txt: a CNN removes black "
         "holes from BSDS500 images (train split -> test split), against OpenCV Telea and "
         "Navier-Stokes inpainting.",
         choices="Holes: 1-3 black rectangles of 10-25 % of each side. The CNN is a residual "
         "U-Net that sees only the damaged image (as in the study); the OpenCV methods get the "
         "mask. L1 loss, Adam 1e-3."),
    dict(name="Denoising, BSD68 table", stem="denoising_bsd68", script="denoising_bsd68.py",
         reproduces="Table 2 of nonlocal_networks_denoising_bsd68.txt at sigma 15/25/50: BM3D, "
         "imported DnCNN and FFDNet, our trained DnCNN, non-local CNN and NLRN (Train400).", choices=""),
    dict(name="JPEG quality", stem="jpeg_quality", script="jpeg_quality.py",
         reproduces="Table I of cnn_enhancement_lowlight_inpainting.txt: PSNR, SSIM and bytes "
         "for JPEG qualities 95 down to 5 on a real image, with a bar chart.", choices=""),
    dict(name="Survey methods table", stem="survey_methods", script="survey_methods.py",
         reproduces="Table 1 of survey_denoising_sr_contrast_ablations.txt: bilateral, wavelet, "
         "bicubic SR, CNN denoising, GAN SR; PSNR, SSIM and LPIPS-alex on BSD68 sigma 25 and Set5 "
         "x4.", choices=""),
    dict(name="Colorization", stem="colorization", script="colorization.py",
         reproduces="colorization_gan_unet.txt: a conditional GAN (U-Net generator with a dilated "
         "bottleneck, G once / D twice per iteration, soft and noisy labels) colorizes gray "
         "images; PSNR, SSIM, LPIPS-alex and the study's SSIM accuracy (share of images with "
         "SSIM > 0.9), beside the gray input itself.",
         choices="BSDS500 train/test stand in for the study's 10,000-image ImageNet subset (not "
         "in the shared data); L1 + 0.01 x adversarial (pix2pix's 100:1); LPIPS-alex added to "
         "the study's MSE/SSIM/FID (FID needs Inception weights from a file, none shipped)."),
    dict(name="Ablations", stem="ablations", script="ablations.py",
         reproduces="The survey's ablations on one denoiser: no skips, no normalization, "
         "ReLU / LeakyReLU / sigmoid, MSE / SSIM / perceptual loss; delta PSNR/SSIM.", choices=""),
    dict(name="DnCNN-S initialisation", stem="dncnn_init", script="dncnn_init.py",
         reproduces="Issue 17's question: why DnCNN-S from Flax's default init sits at the "
         "identity map before it learns; the zoo recipe from seven initialisations (Flax, He, "
         "PyTorch, KAIR, LeCun x 0.2 / 0.05 / 0.0125); loss curves and BSD68 σ=25 PSNR.",
         choices="The cpu profile's 400 steps of 8 show the start of training only; the zoo "
         "card (zoo/dncnn_s25) is the full run with the chosen init."),
    dict(name="Pretrained re-scores", stem="pretrained", script="reproduce_pretrained.py",
         reproduces="The published scores of the official DnCNN, FFDNet, SRCNN and Zero-DCE "
         "weights, re-scored through our models and evaluator.", choices=""),
]


def commands(study: dict) -> list[tuple[str, str]]:
  """(command, comment) from the `python experiments/...  # comment` lines of the
  script's docstring."""
  path = HERE / study["script"]
  if not path.is_file():
    return []
  doc = re.match(r'\s*(?:#[^\n]*\n\s*)*"""(.*?)"""', path.read_text(), re.S)
  found = re.findall(r"^\s*(python experiments/\S+[^#\n]*?)\s*(?:#\s*(.*))?$",
                     doc.group(1) if doc else "", re.M)
  return [(c.strip(), (m or "").strip()) for c, m in found]


def runtime(study: dict, profile: str) -> str:
  for cmd, comment in commands(study):
    if f"--profile={profile}" in cmd or f"--profile {profile}" in cmd:
      return comment or "–"
  cmds = commands(study)
  return cmds[0][1] if cmds and cmds[0][1] else "–"


def paste(stem: str) -> str:
  """results/<stem>.md with headings demoted three levels and links made relative to here."""
  path = RESULTS / f"{stem}.md"
  if not path.is_file():
    return "_No results yet: run the command above._"
  text = path.read_text().strip()
  text = re.sub(r"^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + 3, 6) + " ", text,
                flags=re.M)
  return re.sub(r"\]\((?!https?:|/|results/)([^)]+)\)", r"](results/\1)", text)


def render() -> str:
  out = ["# Experiments", "",
         "<!-- Generated by experiments/update_readme.py from experiments/results/*.md; "
         "do not edit by hand. -->", "",
         "One script per study. `--profile=cpu` runs in minutes on 2 CPU cores (tiny "
         "networks, few steps, small patches; its tables say so); `--profile=paper` uses the "
         "studies' settings and is meant for a GPU/TPU (see `launch/`). Each script writes a "
         "markdown table (with the command and date) and PNG plots to `experiments/results/`; "
         "`python experiments/update_readme.py` then pastes them below. The study texts are in "
         "`shared/studies/`.", "",
         "Every row is a config: `enhance_jax/configs/studies/<study>.py`, whose argument names "
         "the row and the profile (`--config=studies/denoising:model=dncnn,sigma=25,profile=cpu`"
         "). The scripts only run those configs through `enhance_jax.api` and tabulate; each "
         "table lists the command that re-makes each row on its own (`python -m "
         "enhance_jax.train` for a learned row, whose number is its named eval set in "
         "`eval_metrics.json`). Flags of every script: `--profile`, `--workdir`, `--results`.", "",
         "| study | script | cpu profile | paper profile | results |", "|---|---|---|---|---|"]
  for s in STUDIES:
    res = f"[{s['stem']}.md](results/{s['stem']}.md)" if (RESULTS / f"{s['stem']}.md").is_file() \
        else "not run yet"
    out.append(f"| {s['name']} | `{s['script']}` | {runtime(s, 'cpu')} | "
               f"{runtime(s, 'paper')} | {res} |")
  for s in STUDIES:
    cmds = commands(s)
    width = max((len(c) for c, _ in cmds), default=0)
    out += ["", f"## {s['name']}", "", f"**Reproduces:** {s['reproduces']}", "", "```"]
    out += [f"{c:<{width}}  # {m}" if m else c for c, m in cmds] or [f"python experiments/{s['script']}"]
    out += ["```"]
    if s["choices"]:
      out += ["", f"**Choices where the study is vague:** {s['choices']}"]
    out += ["", "### Latest results", "", paste(s["stem"])]
  return "\n".join(out) + "\n"


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
  args = parser.parse_args()
  readme = HERE / "README.md"
  text = render()
  if args.check:
    stale = not readme.is_file() or readme.read_text() != text
    print(f"{readme}: {'out of date' if stale else 'up to date'}")
    return int(stale)
  readme.write_text(text)
  print(f"wrote {readme}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
