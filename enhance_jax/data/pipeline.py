"""Input pipelines: infinite training batches and one-pass evaluation batches.

Training: the global batch of step s holds the examples [s*B, (s+1)*B) of
`TrainExamples`: the source in a per-epoch seeded permutation, each image
giving `data.crops_per_image` consecutive examples, each example randomly
cropped and flipped with a generator seeded by its index. The order is
therefore a pure function of (seed, step): a resumed run continues exactly, and
the global batch is the same whatever the number of processes or loader
workers. Each process reads and augments only its own rows of every global batch.

Throughput (what keeps an accelerator fed):
  - `data.cache_mb`: the training set is decoded once into memory when its
    decoded arrays fit in that many MiB (each worker process holds a copy);
  - `data.crops_per_image`: one decoded image serves that many consecutive
    examples (fewer decodes when the set is not cached);
  - `data.num_workers`: grain worker processes each assemble whole batches
    (0 = one background thread of the training process), `data.prefetch`
    batches ahead per worker;
  - `prefetch_to_device`: the loop transfers the next batches to the devices
    while the current step runs.
None of them changes the batches.

Evaluation: every image is visited exactly once at full size (or centre-cropped
to `data.eval_max_size`). Images of the same shape are batched together (up to
`eval_batch_size`); a batch is padded to a multiple of the device count by
repeating its last image with weight 0, so padding never counts in a metric.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Callable, Iterator

import grain
import numpy as np
from absl import flags as absl_flags
from absl import logging

from enhance_jax.data import augment, host_ops, imageio, sources
from enhance_jax.training import logs


def _float_example(ex: dict) -> dict:
  out = {"target": imageio.to_float(ex["target"])}
  if "input" in ex:
    out["input"] = imageio.to_float(ex["input"])
  return out


def _nbytes(example: dict) -> int:
  return sum(v.nbytes for v in example.values() if isinstance(v, np.ndarray))


def cache_decoded(source, max_mib: float, label: str = "cache training set"):
  """`source` decoded into a `ListSource` when its arrays fit in `max_mib` MiB, else
  `source` itself (also when it is already in memory or `max_mib` <= 0).

  Decoding stops as soon as the running size passes the limit, so a set that
  does not fit costs at most about `max_mib` of decoding once. Progress with ETA
  and a summary line go to stderr (`logs.Ticker` named `label`).
  """
  if max_mib <= 0 or isinstance(source, sources.ListSource):
    return source
  limit, total, examples = max_mib * 2**20, 0, []
  ticker = logs.Ticker(label, len(source))
  for i in range(len(source)):
    ex = source[i]
    total += _nbytes(ex)
    if total > limit:
      logging.info("Training set larger than data.cache_mb=%s MiB: read from the source.",
                   max_mib)
      return source
    examples.append(ex)
    ticker.update(i + 1)
  ticker.finish(f"{total / 2**20:.1f} MiB decoded in memory")
  return sources.ListSource(examples)


class TrainExamples:
  """Infinite random-access training examples: element i is a pure function of
  (seed, i). With k = crops_per_image, element i is crop i % k of image slot
  g = i // k; epoch e = g // len(source) visits the source in the order of a
  permutation seeded by (seed, e); each example is cropped and flipped with a
  generator seeded by (seed, i)."""

  def __init__(self, source, data_cfg, seed: int):
    if len(source) == 0:
      raise ValueError(f"Training dataset {data_cfg.name!r} split {data_cfg.train_split!r} "
                       "is empty.")
    self.source, self.seed = source, int(seed)
    self.patch_size, self.scale = int(data_cfg.patch_size), int(data_cfg.scale)
    self.crops = int(data_cfg.crops_per_image)
    if self.crops < 1:
      raise ValueError(f"config.data.crops_per_image={self.crops}: use 1 or more.")
    self.flip_rot = bool(data_cfg.augment)
    self.host_degrade = host_ops.build(data_cfg.host_degrade)

  @functools.lru_cache(maxsize=4)
  def permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.source))

  def index(self, i: int) -> int:
    """Source index of element i."""
    epoch, pos = divmod(i // self.crops, len(self.source))
    return int(self.permutation(epoch)[pos])

  def _patch(self, i: int, decoded: dict) -> dict:
    """Element i, still integer, from its decoded source example (`source[index(i)]`)."""
    rng = np.random.default_rng([self.seed, 1, i])
    ex = augment.paired_random_crop(decoded, self.patch_size, self.scale, rng)
    if self.flip_rot:
      ex = augment.paired_flip_rot(ex, rng)
    ex = self.host_degrade(ex, rng)
    return {k: ex[k] for k in ("target", "input") if k in ex}

  def __getitem__(self, i: int) -> dict:
    return _float_example(self._patch(i, self.source[self.index(i)]))

  def batch(self, start: int, stop: int) -> dict:
    """Elements [start, stop) stacked: float32 NHWC numpy arrays. Each source
    image is read once per batch however many of its crops the batch holds."""
    decoded: dict[int, dict] = {}
    items = []
    for i in range(start, stop):
      j = self.index(i)
      if j not in decoded:
        decoded[j] = self.source[j]
      items.append(self._patch(i, decoded[j]))
    # One conversion of the stacked integer patches (equal to converting each).
    return _float_example({k: np.stack([it[k] for it in items]) for k in items[0]})


class _Batches:
  """Picklable `step -> this process's rows of global batch step` (grain workers
  receive a copy of it, cached images included)."""

  def __init__(self, examples: TrainExamples, global_batch: int, rows: slice):
    self.examples, self.global_batch, self.rows = examples, global_batch, rows

  def __call__(self, step: int) -> dict:
    base = step * self.global_batch
    return self.examples.batch(base + self.rows.start, base + self.rows.stop)


def train_batches(source, data_cfg, seed: int, global_batch: int, rows: slice,
                  start_step: int = 0) -> Iterator[dict]:
  """Yields this process's rows of the global batches start_step, start_step+1, ...

  Each element is a dict of stacked float32 NHWC numpy arrays. The source is
  cached (`data.cache_mb`) at the first `next()`, so read errors surface there.
  Batches are assembled by `data.num_workers` grain worker processes (0: one
  background thread of this process), `data.prefetch` batches ahead (per worker).
  """
  workers = int(data_cfg.num_workers)
  if workers < 0:
    raise ValueError(f"config.data.num_workers={workers}: use 0 (in-process) or more.")
  source = cache_decoded(source, float(data_cfg.cache_mb),
                         f"cache {data_cfg.name} {data_cfg.train_split}")
  make = _Batches(TrainExamples(source, data_cfg, seed), global_batch, rows)
  prefetch = max(int(data_cfg.prefetch), 1)
  steps = grain.MapDataset.range(start_step, 2**62).map(make)
  ds = steps.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch))
  if workers:
    if not absl_flags.FLAGS.is_parsed():  # grain's workers read its absl flags (defaults
      absl_flags.FLAGS.mark_as_parsed()   # here) also when no absl app parsed argv
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers,
                                                     per_worker_buffer_size=prefetch))
  it = iter(ds)
  try:
    yield from it
  finally:
    close = getattr(it, "close", None)
    if close is not None:
      close()  # stops worker processes at once instead of at garbage collection


def prefetch_to_device(batches: Iterator, put: Callable[[dict], Any], size: int) -> Iterator:
  """Yields `put(batch)` for each batch of `batches`, keeping `size` more batches
  already put: `put` starts an asynchronous host-to-device copy (e.g.
  `mesh.global_batch`), so the next batches travel while a step runs.
  `size` 0 puts each batch only when it is asked for."""
  queue: collections.deque = collections.deque()
  for batch in batches:
    queue.append(put(batch))
    if len(queue) > size:
      yield queue.popleft()
  while queue:
    yield queue.popleft()


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
  if data_cfg.max_eval_images:
    n = min(n, data_cfg.max_eval_images)
  if n == 0:
    raise ValueError(f"Evaluation dataset {data_cfg.name!r} split {data_cfg.eval_split!r} is empty.")
  host_degrade = host_ops.build(data_cfg.host_degrade)
  groups: dict[tuple, list[dict]] = {}
  for i in range(n):
    ex = source[i]
    if data_cfg.eval_max_size:
      ex = augment.center_crop(ex, data_cfg.eval_max_size, data_cfg.scale)
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
