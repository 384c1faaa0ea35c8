"""Is the input pipeline fast enough? The trainer's loader beside its train step.

Loader: `enhance_jax.data.pipeline.train_batches` itself (what the training
loop iterates), over the config's training source, with the config's
`data.*` settings (workers, cache, crops per image, prefetch). Reported as
patches/s and patches/s per loader process (the main process when
`data.num_workers` is 0, else each worker process). Consumer: the trainer's
`steps.train_step` on batches of the same shape; the loader keeps up when its
patches/s exceeds the step's.

Presets (a training set from the shared data, read through `image_folder`):
  train400: DnCNN-S's recipe, 400 gray 180x180 PNGs, 40x40 patches, batch 128.
  bsds500:  the 200 BSDS500 train JPEGs (481x321 RGB), 64x64 patches, batch 16.

  python experiments/benchmarks/input_pipeline.py --preset=train400 --steps=0
  python experiments/benchmarks/input_pipeline.py --preset=train400 --workers=4 \
      --cache_mb=256 --crops_per_image=8 --output=/tmp/loader.json

Prints one table and, with `--output`, writes JSON naming the command, the
machine (with its 1-minute load average) and the settings.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (applies the package's CPU defaults before JAX starts)

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "train400", ["train400", "bsds500", "embedded"],
                  "Training set and patch/batch shape (see the module doc).")
flags.DEFINE_integer("patch", None, "Patch side (default: the preset's).")
flags.DEFINE_integer("batch", None, "Batch size (default: the preset's).")
flags.DEFINE_float("seconds", 8.0, "Timed loader seconds (after --warmup batches).")
flags.DEFINE_integer("warmup", 3, "Untimed loader batches first (worker start, cache fill).")
flags.DEFINE_integer("steps", 10, "Timed train steps (0: loader only).")
flags.DEFINE_integer("workers", None, "config.data.num_workers (grain worker processes).")
flags.DEFINE_integer("cache_mb", None, "config.data.cache_mb (decoded-image cache limit).")
flags.DEFINE_integer("crops_per_image", None, "config.data.crops_per_image.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")

PRESETS = {
    "train400": dict(folder="train400", channels=1, patch=40, batch=128),
    "bsds500": dict(folder="bsds500/images/train", channels=3, patch=64, batch=16),
    "embedded": dict(folder=None, channels=3, patch=64, batch=16),
}


def preset_config(name: str, patch: int | None = None, batch: int | None = None):
  """base_config() reading preset `name`'s training set, shapes overridden if given."""
  import ml_collections
  from enhance_jax.config import base_config
  from enhance_jax.data import paths
  p = PRESETS[name]
  c = base_config()
  if p["folder"]:
    c.data.name = "image_folder"
    c.data.kwargs = ml_collections.ConfigDict(
        dict(target_dir=str(paths.shared_subdir(*p["folder"].split("/")))))
  c.data.channels = p["channels"]
  c.data.patch_size = patch or p["patch"]
  c.train.batch_size = batch or p["batch"]
  c.data.degrade = "gaussian_noise(sigma=25)" if p["channels"] == 1 else c.data.degrade
  if p["channels"] == 1:
    c.model.name, c.model.kwargs = "dncnn", ml_collections.ConfigDict()
  return c


def time_loader(config, seconds: float, warmup: int = 3) -> dict:
  """Sustained rate of `pipeline.train_batches` (this process's rows = the whole batch)."""
  from enhance_jax.training import components
  from enhance_jax.data import pipeline
  t0 = time.perf_counter()
  source = components.source(config, config.data.train_split)
  n = config.train.batch_size
  it = pipeline.train_batches(source, config.data, config.seed, n, slice(0, n))
  for _ in range(warmup):
    b = next(it)
  startup = time.perf_counter() - t0
  count, t = 0, time.perf_counter()
  while time.perf_counter() - t < seconds:
    b = next(it)
    count += 1
  dt = time.perf_counter() - t
  close = getattr(it, "close", None)
  if close:
    close()
  processes = max(int(config.data.num_workers), 1)
  rate = count * n / dt
  return {"patches_per_s": rate, "patches_per_s_per_process": rate / processes,
          "loader_processes": processes, "batch_ms": 1e3 * dt / count, "batches": count,
          "startup_s": startup, "shape": list(b["target"].shape), "examples": len(source)}


def time_step(config, n: int) -> dict:
  """The trainer's jitted step (forward, backward, Adam) on one batch of the loader's shape."""
  import jax
  import numpy as np
  from enhance_jax.training import components, losses, optim, state as state_lib, steps
  model = components.model(config)
  tx, lr = optim.build(config.optimizer, config.train.num_steps)
  b, p, c = config.train.batch_size, config.data.patch_size, config.data.channels
  batch = {"target": np.random.default_rng(0).random((b, p, p, c), dtype=np.float32)}
  st = state_lib.create_train_state(model, tx, np.zeros((1, p, p, c), np.float32), config.seed,
                                    ema=False)
  fn = jax.jit(lambda s, x: steps.train_step(
      s, x, model=model, tx=tx, loss_fn=losses.build(config.loss),
      degrade=components.degrade(config), lr_schedule=lr), donate_argnums=0)
  t = time.perf_counter()
  st, m = fn(st, batch)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t
  for _ in range(2):
    st, m = fn(st, batch)
  jax.block_until_ready(m)
  t = time.perf_counter()
  for _ in range(n):
    st, m = fn(st, batch)
  jax.block_until_ready(m)
  dt = time.perf_counter() - t
  return {"patches_per_s": n * b / dt, "step_ms": 1e3 * dt / n, "compile_s": compile_s,
          "model": config.model.name, "devices": [str(d) for d in jax.devices()]}


def apply_flags(config) -> None:
  for key in ("workers", "cache_mb", "crops_per_image"):
    value = getattr(FLAGS, key)
    if value is not None:
      config.data["num_workers" if key == "workers" else key] = value


def main(argv):
  del argv
  config = preset_config(FLAGS.preset, FLAGS.patch, FLAGS.batch)
  apply_flags(config)
  results = {"command": " ".join(sys.argv), "machine": common.machine(),
             "cpus_available": len(os.sched_getaffinity(0)), "preset": FLAGS.preset,
             "data": config.data.to_dict()}
  results["loader"] = r = time_loader(config, FLAGS.seconds, FLAGS.warmup)
  print(f"\n{'what':<44}{'patches/s':>11}{'per process':>13}{'ms/batch':>10}")
  print(f"{'pipeline.train_batches (' + str(r['loader_processes']) + ' process(es))':<44}"
        f"{r['patches_per_s']:>11.0f}{r['patches_per_s_per_process']:>13.0f}{r['batch_ms']:>10.1f}")
  if FLAGS.steps:
    results["train_step"] = s = time_step(config, FLAGS.steps)
    print(f"{'train step (' + s['model'] + ')':<44}{s['patches_per_s']:>11.0f}"
          f"{'':>13}{s['step_ms']:>10.1f}")
  print(f"(shape {r['shape']}, {r['examples']} images, startup {r['startup_s']:.1f} s, "
        f"load {results['machine']['loadavg_1m']:.2f} on {results['cpus_available']} CPUs)")
  common.write_json(FLAGS.output, results)


if __name__ == "__main__":
  app.run(main)
