"""Damage removal: a CNN that fills random black holes vs OpenCV inpainting.

Reproduces Task 3 of cnn_enhancement_lowlight_inpainting.txt: BSDS500 photos
damaged with black areas, a CNN trained to remove them (train split), scored on
the test split, against OpenCV Telea and Navier-Stokes inpainting (which are
given the hole mask; the CNN sees only the damaged image).

  python experiments/damage_removal.py --profile=cpu     # ~10 min on 2 shared, loaded CPU cores
  python experiments/damage_removal.py --profile=paper   # GPU/TPU (launch/), < 1 h

The CNN trains through `train_and_evaluate` (experiments/configs/inpainting_cnn.py);
all methods are scored by `api.evaluate` on the same damaged inputs
(experiments/configs/baselines/inpaint_{telea,ns}_bsds500.py). Writes
experiments/results/damage_removal.md, damage_removal.png and damage_removal_curves.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

from absl import logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from experiments import common, lowlight_study  # noqa: E402

NETWORK = ("CNN (U-Net, residual)", "inpainting_cnn.py")
CLASSICAL = [("OpenCV Telea", "baselines/inpaint_telea_bsds500.py"),
             ("OpenCV Navier-Stokes", "baselines/inpaint_ns_bsds500.py")]
FIGURE_IMAGES = 3


def test_set(profile: str) -> dict:
  holes = lowlight_study.profiles().HOLES
  if profile == "paper":
    return dict(key="bsds500", label=f"BSDS500 test, 200 full images, `{holes}`",
                data=dict(name="bsds500", kwargs={}, degrade=holes, eval_split="test",
                          eval_max_size=0, max_eval_images=0))
  return dict(key="bsds500", label=f"BSDS500 test, first 24 images, centre crops 256x256, "
              f"`{holes}`", data=dict(name="bsds500", kwargs={}, degrade=holes,
                                      eval_split="test", eval_max_size=256, max_eval_images=24))


def figure(methods: list[tuple], config, out_png: Path) -> Path:
  """The first test images: damaged input, each method, original."""
  import jax
  import numpy as np
  from enhance_jax import plots
  from enhance_jax.baselines import apply
  from enhance_jax.data import augment
  from enhance_jax.training import components
  src = components.source(config, config.data.eval_split)
  degrade = components.degrade(config)
  rows, names = [], []
  for i in range(FIGURE_IMAGES):
    ex = augment.center_crop(src[i], config.data.eval_max_size) if config.data.eval_max_size \
        else src[i]
    t = ex["target"].astype(np.float32)[None] / 255.0
    key = jax.random.fold_in(jax.random.PRNGKey(config.eval.seed), i)
    b = jax.device_get(degrade({"target": t, "input": t}, key))  # the eval input of image i
    row = [b["input"][0]]
    for _, c, fn in methods:
      if "baseline" in c:
        row.append(apply(c.baseline.name, b["input"][0], mask=b["mask"][0], **c.baseline.kwargs))
      else:
        row.append(fn(b["input"][0]))
    rows.append(row + [t[0]])
    names.append(ex["name"])
  return lowlight_study.compact_png(plots.image_grid(
      rows, ["damaged"] + [m[0] for m in methods] + ["original"], out_png, row_labels=names))


def main(argv=None) -> None:
  args = common.parse_study_args(__doc__, "damage", "damage_removal.md", argv)
  logging.set_verbosity(logging.WARNING)
  profile = common.check_profile(args.profile)
  workdir = Path(args.workdir or ROOT / "runs" / f"damage_{profile}")
  results = Path(args.results)
  from enhance_jax import plots
  study = lowlight_study
  test = test_set(profile)
  rows, methods = [], []

  label, file = NETWORK
  config = common.load_config(file, profile)
  run_dir = workdir / Path(file).stem
  common.train(config, run_dir)
  r = common.evaluate(study.for_test(config, test), run_dir, run_dir / "test.json")
  rows.append(dict(method=label, kind="learned", params=study.count_params(config),
                   train_s=study.train_seconds(run_dir / "metrics.jsonl"),
                   steps=config.train.num_steps, **study.scores(r, "test")))
  study.write_jsonl(run_dir / "curves.jsonl", study.curve_rows(run_dir / "metrics.jsonl"))
  methods.append((label, config, study.enhancer(config, str(run_dir))))

  for label, file in CLASSICAL:
    c = study.for_test(common.load_config(file), test)
    r = common.evaluate(c, None, workdir / Path(file).stem / "test.json")
    rows.append(dict(method=label, kind="classical", params=0, train_s=0.0, steps=0,
                     **study.scores(r, "test")))
    methods.append((label, c, None))

  results.mkdir(parents=True, exist_ok=True)
  figure(methods, study.for_test(config, test), results / "damage_removal.png")
  plots.plot_curves({NETWORK[0]: run_dir / "curves.jsonl"}, ["psnr", "mse"],
                    results / "damage_removal_curves.png",
                    title=f"damage removal, {profile} profile: train (solid) / validation (dashed)")
  first = rows[0]
  table = [["damaged input", "–", "–", "–", "–", common.fmt(first["input_psnr_test"]),
            common.fmt(first["input_ssim_test"], 4)]]
  for r in rows:
    table.append([r["method"], r["kind"], f"{r['params']:,}" if r["params"] else "–",
                  str(r["steps"]) if r["steps"] else "–",
                  f"{r['train_s']:.0f} s" if r["train_s"] else "–",
                  common.fmt(r["psnr_test"]), common.fmt(r["ssim_test"], 4)])
  common.write_table(results / "damage_removal.md", "Damage (black hole) removal",
                     ["method", "kind", "params", "steps", "train time", "PSNR", "SSIM"], table,
                     profile, notes=notes(rows, test, profile, config), extra=(
                         "![damage removal](damage_removal.png)\n\nTrain (solid) and validation "
                         "(dashed) PSNR and MSE per epoch (one epoch = "
                         f"{config.train.log_every} steps):\n\n"
                         "![curves](damage_removal_curves.png)"))


def notes(rows: list[dict], test: dict, profile: str, config) -> str:
  net = rows[0]
  best = max(rows[1:], key=lambda r: r["psnr_test"])
  if net["psnr_test"] > best["psnr_test"]:
    verdict = (f"The CNN beats the best classical method ({best['method']}, "
               f"{best['psnr_test']:.2f} dB) by {net['psnr_test'] - best['psnr_test']:.2f} dB.")
  else:
    verdict = (f"**The CNN does not beat {best['method']}** ({net['psnr_test']:.2f} vs "
               f"{best['psnr_test']:.2f} dB PSNR). Why: the OpenCV methods are told where the "
               "holes are and keep every other pixel exactly, while the CNN must find the holes "
               "itself and re-synthesises the whole image" + (
                   "; in the cpu profile it is a tiny U-Net (8 base features, 3 levels) trained "
                   f"for {config.train.num_steps} steps on {config.data.patch_size}x"
                   f"{config.data.patch_size} crops, far from converged, and since hole sides "
                   "are fractions of the image side, the 256x256 test holes (26-64 px) are "
                   f"{256 / config.data.patch_size:.1f}x larger than the training ones and "
                   "exceed its receptive field: it fills them with a blurred mean colour (see "
                   "the figure)." if profile == "cpu" else "."))
  setting = (
      f"U-Net (8 base features, 3 levels, residual output) trained {config.train.num_steps} "
      "steps (12 epochs of the 200 BSDS500 train images) of batch 8 on 96x96 crops, L1 loss, "
      "Adam 1e-3; validation curve on 8 BSDS500 val crops of 128x128." if profile == "cpu" else
      "U-Net (32 base features, 4 levels) on 256x256 crops of BSDS500 train, batch 8, 100 epochs.")
  return "\n".join([
      verdict, "", setting, "", f"Test: {test['label']} — the same damaged inputs for every "
      "method (the eval degradation of image i uses key fold_in(eval.seed, i)). PSNR (dB) / SSIM "
      "over the whole RGB image (holes and intact pixels), output rounded to uint8. Telea / "
      "Navier-Stokes: `cv2.inpaint`, radius 3, given the hole mask; the CNN is not."])

if __name__ == "__main__":
  main()
