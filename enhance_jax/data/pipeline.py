"""Input pipelines: infinite training batches and one-pass evaluation batches.

Training: the global batch of step s holds the examples [s*B, (s+1)*B) of
`TrainExamples` (the source in a per-epoch seeded permutation, each example
randomly cropped and flipped with a generator seeded by its index); grain
assembles batches in background threads. The order is
therefore a pure function of (seed, step): a resumed run continues exactly, and
the global batch is the same whatever the number of processes. Each process
reads and augments only its own rows of every global batch.

Evaluation: every image is visited exactly once at full size (or centre-cropped
to `data.eval_max_size`). Images of the same shape are batched together (up to
`eval_batch_size`); a batch is padded to a multiple of the device count by
repeating its last image with weight 0, so padding never counts in a metric.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterator

import grain
import numpy as np

from enhance_jax.data import augment, host_ops, imageio


def _float_example(ex: dict) -> dict:
  out = {"target": imageio.to_float(ex["target"])}
  if "input" in ex:
    out["input"] = imageio.to_float(ex["input"])
  return out


class TrainExamples:
  """Infinite random-access training examples: element i is a pure function of
  (seed, i). Epoch e = i // len(source) visits the source in the order of a
  permutation seeded by (seed, e); each example is cropped and flipped with a
  generator seeded by (seed, i)."""

  def __init__(self, source, data_cfg, seed: int):
    if len(source) == 0:
      raise ValueError(f"Training dataset {data_cfg.name!r} split {data_cfg.train_split!r} "
                       "is empty.")
    self.source, self.seed = source, int(seed)
    self.patch_size, self.scale = int(data_cfg.patch_size), int(data_cfg.get("scale", 1))
    self.flip_rot = bool(data_cfg.augment)
    self.host_degrade = host_ops.build(data_cfg.get("host_degrade", ""))

  @functools.lru_cache(maxsize=4)
  def permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.source))

  def index(self, i: int) -> int:
    """Source index of element i."""
    epoch, pos = divmod(i, len(self.source))
    return int(self.permutation(epoch)[pos])

  def __getitem__(self, i: int) -> dict:
    rng = np.random.default_rng([self.seed, 1, i])
    ex = augment.paired_random_crop(self.source[self.index(i)], self.patch_size, self.scale, rng)
    if self.flip_rot:
      ex = augment.paired_flip_rot(ex, rng)
    return _float_example(self.host_degrade(ex, rng))


def train_batches(source, data_cfg, seed: int, global_batch: int, rows: slice,
                  start_step: int = 0) -> Iterator[dict]:
  """Yields this process's rows of the global batches start_step, start_step+1, ...

  Each element is a dict of stacked float32 NHWC numpy arrays. Batches are
  assembled in `data_cfg.num_workers` background threads, `prefetch` ahead.
  """
  examples = TrainExamples(source, data_cfg, seed)
  lo, hi = rows.start, rows.stop

  def load(step: int) -> dict:
    items = [examples[step * global_batch + j] for j in range(lo, hi)]
    return {k: np.stack([it[k] for it in items]) for k in items[0]}

  steps = grain.MapDataset.range(start_step, 2**62).map(load)
  threads = max(int(data_cfg.get("num_workers", 0)), 1)
  read = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=max(data_cfg.prefetch, 1))
  return iter(steps.to_iter_dataset(read))


@dataclasses.dataclass
class EvalBatch:
  batch: dict          # global batch: float32 NHWC numpy arrays
  weight: np.ndarray   # [N] 1 for real images, 0 for padding
  names: list[str]     # names of the real images
  index: np.ndarray    # [N] position of each image in the split (padding repeats)


def eval_batches(source, data_cfg, eval_batch_size: int, num_devices: int,
                 seed: int = 0) -> list[EvalBatch]:
  """All evaluation images, grouped by shape into padded global batches.
  Host-side degradations (JPEG) of image i use a generator seeded by (seed, i)."""
  n = len(source)
  if data_cfg.get("max_eval_images", 0):
    n = min(n, data_cfg.max_eval_images)
  if n == 0:
    raise ValueError(f"Evaluation dataset {data_cfg.name!r} split {data_cfg.eval_split!r} is empty.")
  host_degrade = host_ops.build(data_cfg.get("host_degrade", ""))
  groups: dict[tuple, list[dict]] = {}
  for i in range(n):
    ex = source[i]
    if data_cfg.get("eval_max_size", 0):
      ex = augment.center_crop(ex, data_cfg.eval_max_size, data_cfg.get("scale", 1))
    ex = host_degrade(ex, np.random.default_rng([seed, 2, i]))
    key = tuple((k, ex[k].shape) for k in ("target", "input") if k in ex)
    groups.setdefault(key, []).append(dict(ex, index=i))
  size = max(eval_batch_size, 1)
  size = -(-size // num_devices) * num_devices
  out = []
  for items in groups.values():
    for start in range(0, len(items), size):
      chunk = items[start:start + size]
      real = len(chunk)
      pad = (-real) % num_devices
      chunk = chunk + [chunk[-1]] * pad
      floats = [_float_example(ex) for ex in chunk]
      batch = {k: np.stack([f[k] for f in floats]) for k in floats[0]}
      out.append(EvalBatch(batch, np.array([1.0] * real + [0.0] * pad, np.float32),
                           [ex["name"] for ex in chunk[:real]],
                           np.array([ex["index"] for ex in chunk])))
  return out
