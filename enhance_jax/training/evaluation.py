"""Evaluation over a dataset split and the before/after image grid."""
from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from enhance_jax.data import imageio, pipeline
from enhance_jax.metrics import fid, image_quality
from enhance_jax.training import mesh as mesh_lib
from enhance_jax.training import steps


def make_eval_fn(model, degrade, protocol: image_quality.Protocol, extra_inputs, mesh):
  """The jitted eval step: variables as they come (replicated or FSDP-sharded),
  batch sharded over 'data'."""
  fn = functools.partial(steps.eval_step, model=model, degrade=degrade, protocol=protocol,
                         extra_inputs=extra_inputs)
  shard = mesh_lib.batch_sharded(mesh)
  return jax.jit(fn, in_shardings=(None, shard, shard), out_shardings=(shard, shard, shard))


def evaluate(eval_fn, variables, batches: list[pipeline.EvalBatch], mesh, seed: int,
             keep_images: int = 0, ssim_threshold: float = 0.0,
             fid_variables: dict | None = None) -> tuple[dict, list[dict], list[tuple]]:
  """Runs `eval_fn` over every batch once.

  Returns (summary, per_image, samples): the mean of each metric over real
  images plus 'num_images'; one dict per image with its name and metrics; and up
  to `keep_images` (input, output, target) HWC float triples for the grid.
  Image i (its index in the split) is degraded with key fold_in(PRNGKey(seed), i).
  Per image, `mse` (and `input_mse`) = 10^(-PSNR/10), the protocol's MSE.
  `ssim_threshold` > 0 adds `ssim_accuracy` (and `input_ssim_accuracy`): the
  share of images whose SSIM exceeds it. `fid_variables` (FID Inception, see
  metrics/fid.py) adds `fid` between all outputs and all targets.
  """
  root = jax.random.PRNGKey(seed)
  rows = mesh_lib.process_rows
  per_image, samples = [], []
  fid_stats = None
  if fid_variables is not None:
    fid_stats = [fid.FeatureStats.empty(), fid.FeatureStats.empty()]
  for eb in batches:
    n = len(eb.weight)
    local = {k: v[rows(n, mesh)] for k, v in eb.batch.items()}
    keys = np.stack([np.asarray(jax.random.fold_in(root, i)) for i in eb.index])
    local["keys"] = keys[rows(n, mesh)]
    local = mesh_lib.global_batch(local, mesh)
    inp, out, metrics = eval_fn(variables, local, local.pop("keys"))
    metrics = jax.device_get(_gather(metrics))
    real = int(eb.weight.sum())
    for i in range(real):
      per_image.append({"name": eb.names[i], **{k: float(v[i]) for k, v in metrics.items()}})
      for k in ("psnr", "input_psnr"):
        if k in metrics:
          per_image[-1][k.replace("psnr", "mse")] = float(10.0 ** (-float(metrics[k][i]) / 10.0))
    if fid_stats is not None:
      for j, images in enumerate((np.asarray(_gather(out))[:real], eb.batch["target"][:real])):
        images = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
        fid_stats[j] = fid_stats[j].update(fid.inception_features(fid_variables, images))
    if len(samples) < keep_images:
      inp, out = _gather(inp), _gather(out)
      for i in range(min(real, keep_images - len(samples))):
        samples.append((np.asarray(inp[i]), np.asarray(out[i]), eb.batch["target"][i]))
  keys = [k for k in per_image[0] if k != "name"]
  summary = {k: float(np.mean([p[k] for p in per_image])) for k in keys}
  if ssim_threshold > 0:
    for k in ("ssim", "input_ssim"):
      if k in keys:
        summary[f"{k}_accuracy"] = float(np.mean([p[k] > ssim_threshold for p in per_image]))
  if fid_stats is not None and fid_stats[0].n >= 2:
    f_out, f_target = fid_stats
    summary["fid"] = fid.frechet_distance(f_out.mean, f_out.cov, f_target.mean, f_target.cov)
  summary["num_images"] = len(per_image)
  return summary, per_image, samples


def _gather(x):
  """Fully addressable copy of a (possibly multi-process) sharded array tree."""
  if jax.process_count() == 1:
    return x
  from jax.experimental import multihost_utils
  return multihost_utils.process_allgather(x, tiled=True)


def write_grid(path: str | Path, samples: list[tuple], labels=("input", "output", "target")) -> Path:
  """Writes a PNG: one row per sample, columns input | output | target.

  Inputs of another size than the target (SR) are upscaled by pixel
  repetition; gray images are shown as RGB; cells are padded to the largest.
  """
  del labels
  rows = []
  for trip in samples:
    th, tw = trip[-1].shape[:2]
    cells = []
    for im in trip:
      im = np.clip(np.asarray(im, np.float32), 0, 1)
      if im.shape[-1] == 1:
        im = np.repeat(im, 3, -1)
      if im.shape[0] != th and im.shape[0] > 0 and th % im.shape[0] == 0:
        r = th // im.shape[0]
        im = im.repeat(r, 0).repeat(r, 1)
      cells.append(im)
    rows.append(cells)
  h = max(c.shape[0] for r in rows for c in r)
  w = max(c.shape[1] for r in rows for c in r)
  gap = 4
  grid = np.ones((len(rows) * (h + gap) - gap, len(rows[0]) * (w + gap) - gap, 3), np.float32)
  for i, r in enumerate(rows):
    for j, c in enumerate(r):
      y, x = i * (h + gap), j * (w + gap)
      grid[y:y + c.shape[0], x:x + c.shape[1]] = c[:h, :w]
  path = Path(path)
  imageio.write_image(path, grid)
  return path
