"""Builds what a config names: model, datasets, degradation, loss, protocol.

`train`, `evaluate` and `enhance` all go through here, so a name means the same
thing everywhere.
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from enhance_jax import models
from enhance_jax.data import builders  # noqa: F401  (importing it registers the TFDS-backed sets)
from enhance_jax.data import degradations, sources
from enhance_jax.metrics import image_quality
from enhance_jax.training import checkpointing
from enhance_jax.training import state as state_lib
from enhance_jax.weights import variables as variables_io


def model(config: ml_collections.ConfigDict):
  """The registered model `config.model.name` with `config.model.kwargs`."""
  kwargs = dict(config.model.kwargs)
  if config.train.dtype != "float32":
    kwargs.setdefault("dtype", jnp.dtype(config.train.dtype))
  return models.get(config.model.name, **kwargs)


def source(config: ml_collections.ConfigDict, split: str):
  """The dataset source of `config.data.name` for `split`."""
  return sources.DATASETS.get(config.data.name, split=split, channels=config.data.channels,
                              **dict(config.data.kwargs))


def degrade(config: ml_collections.ConfigDict):
  return degradations.build(config.data.degrade)


def protocol(config: ml_collections.ConfigDict) -> image_quality.Protocol:
  return image_quality.Protocol.from_config(config.eval)


def sample_input(config: ml_collections.ConfigDict, batch: int = 1) -> dict:
  """A zero batch with the shapes the model sees in training, after degradation."""
  p = config.data.patch_size
  scale = config.data.scale
  fake = {"target": jnp.zeros((batch, p, p, config.data.channels), jnp.float32)}
  if scale > 1:  # the dataset ships low-resolution inputs
    fake["input"] = jnp.zeros((batch, p // scale, p // scale, config.data.channels), jnp.float32)
  return jax.eval_shape(degrade(config), fake, jax.random.PRNGKey(0))


def init_variables(config: ml_collections.ConfigDict, model_, abstract: bool = False) -> dict:
  """Random initial variables of `model_` on the training input shapes, keys
  from `config.seed` (`state.init_variables`: host numpy arrays, or shapes only
  when `abstract`)."""
  sample = sample_input(config)
  extras = {k: jnp.zeros(sample[k].shape, sample[k].dtype) for k in models.extra_inputs(model_)}
  return state_lib.init_variables(model_, config.seed, jnp.zeros(sample["input"].shape),
                                  abstract=abstract, **extras)


def initial_variables(config: ml_collections.ConfigDict, model_) -> dict:
  """The variables a fresh run starts from: `config.init_checkpoint` (shape-
  checked) when set, else `init_variables`."""
  if config.init_checkpoint:
    return load_inference_variables(config, model_, workdir=None)[0]
  return init_variables(config, model_)


def load_inference_variables(config: ml_collections.ConfigDict, model_, workdir: str | None,
                             use_ema: bool = True, step: int | None = None) -> tuple[dict, str]:
  """Variables to evaluate or apply: the latest checkpoint in `workdir` (or its
  checkpoint `step`, which must exist; EMA parameters when present and
  `use_ema`), else `config.init_checkpoint`.

  Returns (variables, description of where they came from). Raises
  FileNotFoundError naming both places when neither has weights, and
  ValueError listing mismatched parameters when they do not fit the model.
  """
  expected = init_variables(config, model_, abstract=True)
  ckpt_dir = Path(workdir) / "checkpoints" if workdir else None
  if ckpt_dir is not None and ckpt_dir.is_dir():
    ckpt = checkpointing.Checkpointer(ckpt_dir, async_save=False)
    if step is not None or ckpt.latest_step() is not None:
      # the newest checkpoint that restores (a corrupt newer one is named in a warning), or
      # `step` (FileNotFoundError when it does not restore)
      step, tree = ckpt.restore_latest_raw(step, on_corrupt=config.train.on_corrupt_checkpoint)
      ckpt.close()
      params = tree["ema_params"] if (use_ema and tree.get("ema_params")) else tree["params"]
      model_state = tree.get("model_state") or {}
      if params is tree.get("ema_params") and tree.get("ema_model_state"):
        model_state = tree["ema_model_state"]  # the BN statistics of the EMA parameters
      v = {"params": params, **model_state}
      variables_io.check_shapes(expected, v, f"{ckpt_dir}/{step}")
      which = "EMA" if params is tree.get("ema_params") else "raw"
      return jax.tree.map(np.asarray, v), f"{ckpt_dir}/{step} ({which} parameters)"
    ckpt.close()
  if config.init_checkpoint:
    v = variables_io.load_variables(config.init_checkpoint)
    variables_io.check_shapes(expected, v, config.init_checkpoint)
    return v, str(config.init_checkpoint)
  where = f"{ckpt_dir}" if ckpt_dir else "(no --workdir)"
  raise FileNotFoundError(f"No weights: no checkpoint in {where} and config.init_checkpoint is "
                          "empty. Train first or set --config.init_checkpoint.")
