"""Evaluation over a dataset split, the named evaluation sets of a config and
the before/after image grid.

A config's evaluation sets are `config.evals` (big_vision style): each entry
`config.evals.<name>` may hold `data` and `eval` dicts whose keys replace those
of `config.data` / `config.eval` (e.g. another dataset, split, degradation or
protocol). With `config.evals` empty there is one set, named "eval": the
config's own `data.eval_split` and `eval` protocol.
"""
from __future__ import annotations

import functools
from pathlib import Path

import jax
import ml_collections
import numpy as np

from enhance_jax import models
from enhance_jax.data import imageio, pipeline
from enhance_jax.metrics import fid, image_quality, lpips
from enhance_jax.training import components
from enhance_jax.training import mesh as mesh_lib
from enhance_jax.training import steps

IMPLICIT = "eval"  # the name of the one set of a config without `evals`
_SECTIONS = ("data", "eval")


def set_configs(config: ml_collections.ConfigDict, names: list[str] | None = None,
                split: str | None = None) -> dict[str, ml_collections.ConfigDict]:
  """{name: the config of that evaluation set}, in `config.evals` order (all
  sets, or those in `names`); `split` replaces each set's `data.eval_split`.

  Raises ValueError for an unknown name (listing the known ones) or an entry
  key that `config.data` / `config.eval` lacks.
  """
  entries = dict(config.evals.items()) if config.evals else {IMPLICIT: {}}
  if names is not None:
    unknown = [n for n in names if n not in entries]
    if unknown:
      raise ValueError(f"Unknown evaluation set(s) {', '.join(map(repr, unknown))}: this config "
                       f"has {', '.join(entries)}.")
    entries = {n: entries[n] for n in dict.fromkeys(names)}
  out = {}
  for name, entry in entries.items():
    c = config.copy_and_resolve_references()
    for section, values in dict(entry).items():
      if section not in _SECTIONS:
        raise ValueError(f"config.evals.{name}.{section}: an evaluation set overrides only "
                         f"{' and '.join(_SECTIONS)}.")
      for key, value in dict(values).items():
        if key not in c[section]:
          raise ValueError(f"config.evals.{name}.{section}.{key}: config.{section} has no key "
                           f"{key!r}.")
        c[section][key] = value
    if split:
      c.data.eval_split = split
    out[name] = c
  return out


class EvalSet:
  """One named evaluation set, ready to score variables of `model`: its config,
  its padded batches (opened once) and its jitted eval step."""

  def __init__(self, name: str, config: ml_collections.ConfigDict, model, mesh):
    self.name, self.config, self.mesh = name, config, mesh
    self.split = config.data.eval_split
    source = components.source(config, self.split)
    self.batches = pipeline.eval_batches(source, config.data, int(config.eval.batch_size),
                                         mesh_lib.data_size(mesh), config.eval.seed)
    self.eval_fn = make_eval_fn(model, components.degrade(config), components.protocol(config),
                                models.extra_inputs(model), mesh, config.eval.self_ensemble)
    self.fid_variables = (fid.maybe_load_variables(config.eval.fid_weights)
                          if config.eval.fid_weights else None)
    self.lpips = lpips.lpips_from_config(config.eval.lpips, config.eval.lpips_weights)

  @property
  def grid_name(self) -> str:
    """eval_grid.png for the implicit set, eval_grid_<name>.png otherwise."""
    return "eval_grid.png" if self.name == IMPLICIT else f"eval_grid_{self.name}.png"

  @property
  def num_images(self) -> int:
    return int(sum(eb.weight.sum() for eb in self.batches))

  def run(self, variables, progress: bool = False) -> tuple[dict, list[dict], list[tuple]]:
    """`evaluate` of `variables` on this set: (summary, per_image, samples). `progress`:
    per-image progress with ETA and a summary line on stderr (`logs.Ticker`)."""
    from enhance_jax.training import logs
    e = self.config.eval
    ticker = logs.Ticker(f"evaluate [{self.name}]", self.num_images) if progress else None
    out = evaluate(self.eval_fn, variables, self.batches, self.mesh, e.seed,
                   keep_images=e.grid_images, ssim_threshold=float(e.ssim_threshold),
                   fid_variables=self.fid_variables, lpips_model=self.lpips, progress=ticker)
    if ticker is not None:
      ticker.finish()
    return out


def format_summary(name: str, summary: dict) -> str:
  """'psnr 25.1234, ssim 0.8012, ...' (prefixed by the set's name unless implicit)."""
  text = ", ".join(f"{k} {v:.4f}" for k, v in summary.items() if k != "num_images")
  return text if name == IMPLICIT else f"{name}: {text}"


def make_eval_fn(model, degrade, protocol: image_quality.Protocol, extra_inputs, mesh,
                 self_ensemble: bool = False):
  """The jitted eval step: variables as they come (replicated or FSDP-sharded),
  batch sharded over 'data'; `self_ensemble`: x8 flips/rotations averaged in the step."""
  fn = functools.partial(steps.eval_step, model=model, degrade=degrade, protocol=protocol,
                         extra_inputs=extra_inputs, self_ensemble=self_ensemble)
  shard = mesh_lib.batch_sharded(mesh)
  return jax.jit(fn, in_shardings=(None, shard, shard), out_shardings=(shard, shard, shard))


def evaluate(eval_fn, variables, batches: list[pipeline.EvalBatch], mesh, seed: int,
             keep_images: int = 0, ssim_threshold: float = 0.0,
             fid_variables: dict | None = None, lpips_model: lpips.LPIPS | None = None,
             progress=None) -> tuple[dict, list[dict], list[tuple]]:
  """Runs `eval_fn` over every batch once.

  Returns (summary, per_image, samples): the mean of each metric over real
  images plus 'num_images'; one dict per image with its name and metrics; and up
  to `keep_images` (input, output, target) HWC float triples for the grid.
  Image i (its index in the split) is degraded with key fold_in(PRNGKey(seed), i).
  Per image, `mse` (and `input_mse`) = 10^(-PSNR/10), the protocol's MSE.
  `ssim_threshold` > 0 adds `ssim_accuracy` (and `input_ssim_accuracy`): the
  share of images whose SSIM exceeds it. `fid_variables` (FID Inception, see
  metrics/fid.py) adds `fid` between all outputs and all targets; `lpips_model`
  (metrics/lpips.py) adds per-image `lpips` between output and target.
  `progress` (a `logs.Ticker`) is told the images done after each batch.
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
    if lpips_model is not None and real:  # on the clipped float output, as FID
      target = eb.batch["target"][:real]
      d = np.asarray(lpips_model(np.asarray(_gather(out))[:real], target))
      x = np.clip(np.asarray(_gather(inp))[:real], 0.0, 1.0)
      if x.shape[-1] == 1 and target.shape[-1] == 3:  # a gray input as RGB (R = G = B)
        x = np.repeat(x, 3, axis=-1)
      d_in = (np.asarray(lpips_model(x, target)) if x.shape == target.shape else None)
      for i in range(real):
        per_image[len(per_image) - real + i]["lpips"] = float(d[i])
        if d_in is not None:
          per_image[len(per_image) - real + i]["input_lpips"] = float(d_in[i])
    if fid_stats is not None:
      for j, images in enumerate((np.asarray(_gather(out))[:real], eb.batch["target"][:real])):
        images = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
        fid_stats[j] = fid_stats[j].update(fid.inception_features(fid_variables, images))
    if progress is not None:
      progress.update(len(per_image))
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


def write_grid(path: str | Path, samples: list[tuple]) -> Path:
  """Writes `grid_image(samples)` as a PNG."""
  path = Path(path)
  imageio.write_image(path, grid_image(samples))
  return path


def grid_image(samples: list[tuple]) -> np.ndarray:
  """The before/after grid, HWC float32 RGB in [0, 1]: one row per sample, columns
  input | output | target.

  Inputs of another size than the target (SR) are upscaled by pixel
  repetition; gray images are shown as RGB; cells are padded to the largest.
  """
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
  return grid
