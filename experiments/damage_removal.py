"""Damage removal: a CNN that fills random black holes vs OpenCV inpainting.

Reproduces Task 3 of cnn_enhancement_lowlight_inpainting.txt: BSDS500 photos
damaged with black areas, a CNN trained to remove them (train split), scored on
the test split, against OpenCV Telea and Navier-Stokes inpainting (which are
given the hole mask; the CNN sees only the damaged image).

  python experiments/damage_removal.py --profile=cpu     # ~10 min on 2 shared, loaded CPU cores
  python experiments/damage_removal.py --profile=paper   # GPU/TPU (launch/), < 1 h

Every run is a row of the study config enhance_jax/configs/studies/damage_removal.py
(`method=cnn|telea|ns`); every method is scored by the evaluator on the same damaged inputs,
the named eval set `test`. The figure is cut from the evaluator's own image grids. Writes
<results>/damage_removal.md, damage_removal.png and damage_removal_curves.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

STUDY = "damage_removal"
TEST = "test"
LABELS = {"cnn": "CNN (U-Net, residual)", "telea": "OpenCV Telea", "ns": "OpenCV Navier-Stokes"}


def figure(runs: dict, out_png: Path) -> Path:
  """The first test images: damaged input, each method's output, original — the cells of the
  grids the evaluator wrote (eval_grid_test.png) for each run."""
  from enhance_jax import plots
  n = min(len(r.results[TEST]["per_image"]) for r in runs.values())
  n = min(n, min(int(r.config.evals[TEST].eval.grid_images) for r in runs.values()))
  cells = {m: common.grid_cells(r.dir / f"eval_grid_{TEST}.png", n) for m, r in runs.items()}
  first = next(iter(cells.values()))
  rows = [[first[i][0]] + [cells[m][i][1] for m in runs] + [first[i][2]] for i in range(n)]
  names = [p["name"] for p in next(iter(runs.values())).results[TEST]["per_image"][:n]]
  return common.compact_png(plots.image_grid(
      rows, ["damaged"] + [LABELS[m] for m in runs] + ["original"], out_png, row_labels=names))


def main():
  results = common.results_dir()
  runs = {}
  for arg in common.rows(STUDY):
    runs[arg.split("=", 1)[1]] = common.run_row(STUDY, arg)
  cnn = runs["cnn"]
  from enhance_jax import plots
  figure(runs, results / "damage_removal.png")
  curves = cnn.dir / "curves.jsonl"
  common.write_jsonl(curves, common.curve_rows(cnn.dir / "metrics.jsonl", "val"))
  plots.plot_curves({LABELS["cnn"]: curves}, ["psnr", "mse"], results / "damage_removal_curves.png",
                    title=f"damage removal, {common.profile()} profile: train (solid) / "
                    "validation (dashed)")
  t = cnn.results[TEST]
  table = [["damaged input", "–", "–", "–", "–", common.fmt(t["input_psnr"]),
            common.fmt(t["input_ssim"], 4)]]
  for method, r in runs.items():
    s = r.results[TEST]
    learned = method == "cnn"
    table.append([LABELS[method], "learned" if learned else "classical",
                  f"{common.count_params(r.config):,}" if learned else "–",
                  str(r.config.train.num_steps) if learned else "–",
                  f"{r.train_s:.0f} s" if learned else "–",
                  common.fmt(s["psnr"]), common.fmt(s["ssim"], 4)])
  c = cnn.config
  common.write_table(
      results / "damage_removal.md", "Damage (black hole) removal",
      ["method", "kind", "params", "steps", "train time", "PSNR", "SSIM"], table,
      notes=notes(runs), commands=[(LABELS[m], r, TEST) for m, r in runs.items()],
      extra=("![damage removal](damage_removal.png)\n\nTrain (solid) and validation "
             f"(dashed) PSNR and MSE per epoch (one epoch = {c.train.log_every} steps):\n\n"
             "![curves](damage_removal_curves.png)"))


def notes(runs: dict) -> str:
  cnn = runs["cnn"]
  net = cnn.results[TEST]
  best_m = max((m for m in runs if m != "cnn"), key=lambda m: runs[m].results[TEST]["psnr"])
  best = runs[best_m].results[TEST]
  gap = net["psnr"] - best["psnr"]
  verdict = (f"The CNN {'beats' if gap > 0 else 'is below'} the best classical method "
             f"({LABELS[best_m]}, {best['psnr']:.2f} dB) by {abs(gap):.2f} dB PSNR "
             f"({net['psnr']:.2f} dB); SSIM {net['ssim']:.4f} vs {best['ssim']:.4f}.")
  c = cnn.config
  test = c.evals[TEST].data
  k = c.model.kwargs
  size = (f"centre crops {test.eval_max_size}x{test.eval_max_size}" if test.eval_max_size
          else "full images")
  count = f"the first {test.max_eval_images}" if test.max_eval_images else "all"
  val = c.evals["val"].data
  return "\n".join([
      verdict, "",
      f"CNN: `{c.model.name}` ({k.features} base features, {k.depth} levels, residual output), "
      f"{c.train.num_steps} steps of batch {c.train.batch_size} on {c.data.patch_size}x"
      f"{c.data.patch_size} crops of BSDS500 {c.data.train_split}, loss `{c.loss}`, Adam "
      f"{c.optimizer.learning_rate:g}; validation curve on {val.max_eval_images or 'all'} "
      f"BSDS500 {val.eval_split} images"
      + (f" (crops of {val.eval_max_size} px)" if val.eval_max_size else "") + ".", "",
      f"Test (`{TEST}`): BSDS500 {test.eval_split}, {count} images, {size}, `{test.degrade}` — "
      "the same damaged inputs for every method (the degradation of image i uses key "
      "fold_in(eval.seed, i)). PSNR (dB) / SSIM over the whole RGB image (holes and intact "
      "pixels), output rounded to uint8. Telea / Navier-Stokes: `cv2.inpaint`, radius 3, given "
      "the hole mask; the CNN is not."])


if __name__ == "__main__":
  common.run(main)
