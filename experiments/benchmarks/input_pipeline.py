"""Is the input pipeline fast enough? Loader images/s beside train-step images/s.

Loader: a grain MapDataset over a registered source (decode, random crop
`--patch`, flip/rot90, uint8 -> float32, batch `--batch`), iterated in-process
(or with `--workers` grain processes). Consumer: the default config's training
step on batches of the same shape — the trainer's `train_step` when it is
importable, otherwise a jitted forward + backward + Adam step of the config's
model (reported as 'fallback'). The loader keeps up when its images/s exceeds
the step's.

  python experiments/benchmarks/input_pipeline.py                      # embedded + bsds500
  python experiments/benchmarks/input_pipeline.py --datasets=bsd68 --batches=50

Prints one table and, with `--output`, writes JSON naming the command.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

import grain  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from enhance_jax.data import augment, degradations, imageio  # noqa: E402
from enhance_jax.data import builders  # noqa: E402,F401  (registers the datasets)
from enhance_jax.data.sources import DATASETS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("config", str(REPO / "experiments/configs/default.py"), "Config file.")
flags.DEFINE_list("datasets", ["embedded", "bsds500"], "Registered datasets to load from.")
flags.DEFINE_string("split", "train", "Split of each dataset.")
flags.DEFINE_integer("patch", 64, "Patch side.")
flags.DEFINE_integer("batch", 8, "Batch size.")
flags.DEFINE_integer("batches", 30, "Minimum timed loader batches (after 3 warm-up batches; "
                     "at least 3 s).")
flags.DEFINE_integer("steps", 10, "Timed train steps (after compilation and 2 warm-up steps).")
flags.DEFINE_enum("step", "auto", ["auto", "trainer", "fallback"],
                  "Which train step to time: the trainer's (auto: if importable) or a plain one.")
flags.DEFINE_integer("workers", 0, "grain worker processes (0 = in-process).")
flags.DEFINE_string("data_dir", None, "TFDS data dir (default: a fresh temporary folder).")
flags.DEFINE_string("output", None, "Write the results as JSON here.")


class CropFlip:
  """Random crop + flip/rot90 + float conversion of one example (host, numpy, picklable)."""

  def __init__(self, patch: int, scale: int = 1):
    self.patch, self.scale = patch, scale

  def __call__(self, ex: dict, rng: np.random.Generator) -> dict:
    ex = augment.paired_flip_rot(augment.paired_random_crop(ex, self.patch, self.scale, rng), rng)
    out = {"target": imageio.to_float(ex["target"])}
    if "input" in ex:
      out["input"] = imageio.to_float(ex["input"])
    return out


def loader(source, patch: int, batch: int, seed: int = 0, workers: int = 0,
           min_shuffle: int = 4096):
  """An iterator of batches {'target': [B, P, P, C] float32, ...}.

  grain's index shuffle costs about 50 ms / len(dataset) per element (8 ms for
  the 6 embedded images), so small sources are first repeated to at least
  `min_shuffle` elements (0 = off) and shuffled as one long epoch.
  """
  ds = grain.MapDataset.source(source)
  if min_shuffle and len(ds) < min_shuffle:
    ds = ds.repeat(-(-min_shuffle // len(ds)))
  ds = ds.seed(seed).shuffle().repeat().random_map(CropFlip(patch)).batch(batch)
  it = ds.to_iter_dataset()
  if workers:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return iter(it)


def time_loader(source, n: int, patch: int, batch: int, workers: int,
                min_shuffle: int = 4096, min_seconds: float = 3.0) -> dict:
  """Sustained rate: at least `n` batches and `min_seconds` (so prefetch buffers drain)."""
  it = loader(source, patch, batch, workers=workers, min_shuffle=min_shuffle)
  for _ in range(3):
    b = next(it)
  count, t = 0, time.perf_counter()
  while count < n or time.perf_counter() - t < min_seconds:
    b = next(it)
    count += 1
  dt = time.perf_counter() - t
  return {"images_per_s": count * batch / dt, "batch_ms": 1e3 * dt / count,
          "batches": count, "shape": list(b["target"].shape)}


def load_config(path: str):
  spec = importlib.util.spec_from_file_location("bench_config", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


def make_step(config, sample: dict, which: str = "auto"):
  """(step_fn, state, kind): the trainer's step if importable, else a plain Adam step."""
  from enhance_jax import models
  model = models.get(config.model.name, **config.model.kwargs)
  degrade = degradations.build(config.data.degrade)
  try:
    if which == "fallback":
      raise RuntimeError("--step=fallback")
    from enhance_jax.training import losses, optim, state as state_lib, steps
    tx, lr = optim.build(config.optimizer, config.train.num_steps)
    st = state_lib.create_train_state(model, tx, jnp.asarray(sample["target"]), config.seed,
                                      ema=bool(config.train.ema_decay))
    fn = jax.jit(lambda s, b: steps.train_step(
        s, b, model=model, tx=tx, loss_fn=losses.build(config.loss), degrade=degrade,
        lr_schedule=lr, ema_decay=config.train.ema_decay), donate_argnums=0)
    return fn, st, "trainer"
  except Exception as e:  # noqa: BLE001 - the trainer may not exist yet
    if which == "trainer":
      raise
    print(f"trainer step unavailable ({type(e).__name__}: {e}); timing a plain Adam step.")
  key = jax.random.key(config.seed)
  variables = model.init({"params": key, "dropout": key}, jnp.asarray(sample["target"]),
                         train=False)
  tx = optax.adam(config.optimizer.learning_rate)
  st = (variables, tx.init(variables["params"]), key)

  def step(s, batch):
    variables, opt_state, key = s
    key, k_deg, k_drop = jax.random.split(key, 3)
    batch = degrade(batch, k_deg)
    rest = {k: v for k, v in variables.items() if k != "params"}

    def loss_fn(params):
      out = model.apply({"params": params, **rest}, batch["input"], train=True,
                        rngs={"dropout": k_drop}, mutable=list(rest) or False)
      pred, new_rest = out if rest else (out, {})
      return jnp.mean(jnp.abs(pred - batch["target"])), new_rest

    (loss, new_rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
    updates, opt_state = tx.update(grads, opt_state, variables["params"])
    params = optax.apply_updates(variables["params"], updates)
    return ({"params": params, **new_rest}, opt_state, key), {"loss": loss}

  return jax.jit(step, donate_argnums=0), st, "fallback"


def time_step(config, batch: int, patch: int, n: int, which: str = "auto") -> dict:
  c = config.data.get("channels", 3)
  rng = np.random.default_rng(0)
  sample = {"target": rng.random((batch, patch, patch, c), dtype=np.float32)}
  fn, st, kind = make_step(config, sample, which)
  b = {"target": jnp.asarray(sample["target"])}
  t = time.perf_counter()
  st, m = fn(st, b)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t
  for _ in range(2):
    st, m = fn(st, b)
  jax.block_until_ready(m)
  t = time.perf_counter()
  for _ in range(n):
    st, m = fn(st, b)
  jax.block_until_ready(m)
  dt = time.perf_counter() - t
  return {"kind": kind, "images_per_s": n * batch / dt, "step_ms": 1e3 * dt / n,
          "compile_s": compile_s, "model": config.model.name,
          "model_kwargs": dict(config.model.kwargs), "degrade": config.data.degrade}


def main(argv):
  del argv
  config = load_config(FLAGS.config)
  data_dir = FLAGS.data_dir or tempfile.mkdtemp(prefix="ej_bench_tfds_")
  results = {"command": " ".join(sys.argv), "devices": [str(d) for d in jax.devices()],
             "patch": FLAGS.patch, "batch": FLAGS.batch, "loaders": {}}
  for name in FLAGS.datasets:
    try:
      src = DATASETS.get(name, split=FLAGS.split, channels=config.data.get("channels", 3),
                         data_dir=data_dir)
    except (FileNotFoundError, KeyError, ValueError) as e:
      print(f"skip {name}: {e}")
      continue
    r = time_loader(src, FLAGS.batches, FLAGS.patch, FLAGS.batch, FLAGS.workers, 0)
    r["repeat_then_shuffle"] = time_loader(src, FLAGS.batches, FLAGS.patch, FLAGS.batch,
                                           FLAGS.workers, 4096)
    r["examples"] = len(src)
    results["loaders"][name] = r
  results["train_step"] = time_step(config, FLAGS.batch, FLAGS.patch, FLAGS.steps, FLAGS.step)

  step = results["train_step"]
  print(f"\n{'what':<34}{'images/s':>10}{'ms/batch':>10}")
  for name, r in results["loaders"].items():
    label = f"loader {name} ({r['examples']} imgs)"
    print(f"{label:<34}{r['images_per_s']:>10.1f}{r['batch_ms']:>10.1f}")
    rr = r["repeat_then_shuffle"]
    print(f"{'  same, repeat before shuffle':<34}{rr['images_per_s']:>10.1f}{rr['batch_ms']:>10.1f}")
  label = f"train step ({step['kind']}, {step['model']})"
  print(f"{label:<34}{step['images_per_s']:>10.1f}{step['step_ms']:>10.1f}")
  print(f"(batch {FLAGS.batch}, patch {FLAGS.patch}, workers {FLAGS.workers}, "
        f"compile {step['compile_s']:.1f} s, devices {results['devices']})")
  if FLAGS.output:
    Path(FLAGS.output).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  app.run(main)
