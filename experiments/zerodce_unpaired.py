"""Zero-DCE trained here without references (DICM + LIME) beside the official weights.

  python experiments/zerodce_unpaired.py --profile=cpu     # ~15-20 min on 2 shared CPU cores
  python experiments/zerodce_unpaired.py --profile=paper   # the official schedule (GPU)

Trains `--config=zerodce_unpaired:profile=<profile>` (resuming a finished run costs only
its evaluation), imports nothing itself: the official `Epoch99.pth` must have been
imported with `python -m enhance_jax.import_weights --model=zerodce` (weights/zerodce, or
$ENHANCE_JAX_WEIGHTS/zerodce). Both are scored
  - on LOL 778 (the config's `lol778` set: PSNR/SSIM on RGB, output rounded to uint8),
  - on the 73 unpaired DICM + LIME images, which have no reference: per image, on the
    uint8-rounded output at full size, the mean brightness (mean of all values in
    [0, 1]), the share of pixels with a channel at 255 (clipped highlights), the
    exposure term L_exp (E = 0.6, 16x16 patches) and the colour-constancy term L_col of
    training/zero_reference.py, averaged over images; the input is the first row.
Writes experiments/results/zerodce.md (or --results).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

CONFIG = "zerodce_unpaired"


def official_weights() -> Path:
  return Path(os.environ.get("ENHANCE_JAX_WEIGHTS", "weights")) / "zerodce"


def unpaired_stats(model, variables, images: list[np.ndarray]) -> dict:
  """Mean no-reference statistics over `images` (uint8 HWC), of the model's output
  (or of the input itself when `model` is None)."""
  import jax
  import jax.numpy as jnp
  from enhance_jax.training import zero_reference as zr
  fwd = None if model is None else jax.jit(lambda v, x: model.apply(v, x, train=False))
  rows = []
  for img in images:
    x = jnp.asarray(img, jnp.float32)[None] / 255.0
    y = x if fwd is None else fwd(variables, x)
    y = np.round(np.clip(np.asarray(y, np.float64), 0, 1) * 255) / 255  # as saved
    rows.append({"brightness": float(y.mean()),
                 "clipped": float(np.mean(np.any(y >= 1.0, axis=-1))),
                 "exp": float(zr.exposure_control(jnp.asarray(y, jnp.float32))),
                 "col": float(zr.color_constancy(jnp.asarray(y, jnp.float32)))})
  return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
  from enhance_jax import api
  from enhance_jax.data import imageio
  from enhance_jax.training import components
  from enhance_jax.configs import zerodce_unpaired

  profile = common.profile()
  arg = f"profile={profile}"
  work = common.workdir("zerodce_unpaired")
  ours_dir = work / "ours"
  config = api.load_config(CONFIG, arg)
  weights = official_weights()
  if not weights.exists():
    raise FileNotFoundError(f"{weights}: import the official weights first: "
                            "python -m enhance_jax.import_weights --model=zerodce")
  steps = int(config.train.num_steps)
  if not (ours_dir / "checkpoints" / str(steps)).is_dir():  # else finished: evaluate only
    api.train(config, ours_dir)
  ours_lol = api.evaluate(config, workdir=str(ours_dir))["lol778"]
  official = api.load_config(CONFIG, arg, {"init_checkpoint": str(weights)})
  official_lol = api.evaluate(official, output_json=str(work / "official_lol778.json"))["lol778"]

  files = [f for d in zerodce_unpaired.unpaired_dirs() for f in imageio.list_images(d)]
  images = [imageio.read_image(f, 3) for f in files]
  model = components.model(config)
  ours_vars, _ = components.load_inference_variables(config, model, str(ours_dir), use_ema=False)
  off_vars, _ = components.load_inference_variables(official, model, None, use_ema=False)
  stats = {"input": unpaired_stats(None, None, images),
           "official": unpaired_stats(model, off_vars, images),
           "ours": unpaired_stats(model, ours_vars, images)}

  shown = os.path.relpath(ours_dir, common.ROOT) if ours_dir.is_absolute() else ours_dir
  train_cmd = f"python -m enhance_jax.train --config={CONFIG}:{arg} --workdir={shown}"
  minutes = common.train_seconds(ours_dir / "metrics.jsonl") / 60
  eval_off = (f"python -m enhance_jax.evaluate --config={CONFIG}:{arg} "
              f"--config.init_checkpoint={weights}")
  me = common.command()
  rows = [
      ("low-light input (no enhancement)", common.fmt(official_lol.get("input_psnr")),
       common.fmt(official_lol.get("input_ssim"), 4), *_cells(stats["input"]), f"`{me}`"),
      ("Zero-DCE, official weights (SICE, 200 epochs)", common.fmt(official_lol["psnr"]),
       common.fmt(official_lol["ssim"], 4), *_cells(stats["official"]),
       f"LOL: `{eval_off}`; unpaired: `{me}`"),
      (f"Zero-DCE trained here on DICM+LIME ({steps} steps, zero-reference losses)",
       common.fmt(ours_lol["psnr"]), common.fmt(ours_lol["ssim"], 4), *_cells(stats["ours"]),
       f"LOL: `{train_cmd}`; unpaired: `{me}`"),
  ]
  columns = ["method", "LOL 778 PSNR (dB)", "LOL 778 SSIM", "DICM+LIME brightness",
             "clipped px", "L_exp", "L_col", "command"]
  notes = (
      f"LOL 778: the only complete LOL eval15 pair in the shared data; RGB, output rounded to "
      f"uint8, whole 600x400 image. DICM+LIME: {len(images)} images without reference (DICM 64, "
      f"LIME 9 of 10), whole images; brightness = mean of the uint8 output in [0, 1]; clipped "
      f"px = share of pixels with a channel at 255; L_exp = mean (16x16 patch luminance - 0.6)^2 "
      f"and L_col = the colour-constancy term, as in the training loss (lower = closer to the "
      f"loss's targets, not necessarily better looking). Ours: `{CONFIG}:{arg}` (Adam, weight "
      f"decay 1e-4, gradient clip 0.1, batch 8, {config.data.patch_size} px crops, lr "
      f"{config.optimizer.learning_rate:g}; {minutes:.0f} min of training steps on the shared "
      f"2-core machine); the official weights were trained on SICE part 1 "
      f"(2,422 images) for 200 epochs at lr 1e-4. The unpaired images are also our training "
      f"images: their statistics are in-sample for our model.")
  common.write_table(common.results_dir() / "zerodce.md",
                     "Zero-DCE: trained here without references vs the official weights",
                     columns, rows, notes=notes)


def _cells(s: dict) -> list[str]:
  return [common.fmt(s["brightness"], 3), common.fmt(100 * s["clipped"], 2) + " %",
          common.fmt(s["exp"], 4), common.fmt(s["col"], 5)]


if __name__ == "__main__":
  common.run(main)
