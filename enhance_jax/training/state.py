"""The train state: everything a run needs to continue bit-exactly."""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar; params / model_state (e.g. {'batch_stats': ...}) /
  ema_params ({} when EMA is off) are pytrees; rng: uint32[2] raw key data;
  bad_step: int32, the first step whose loss or gradient was not finite (-1 if
  none) — set inside the compiled step so the host never syncs for it."""
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
  ema_params: Any
  rng: jax.Array
  bad_step: jax.Array

  def variables(self, use_ema: bool = False) -> dict:
    """Flax variables for `model.apply` (EMA parameters when asked and present)."""
    params = self.ema_params if (use_ema and self.ema_params) else self.params
    return {"params": params, **self.model_state}


def init_variables(model, sample_input: jax.Array, rng: jax.Array, **extra) -> dict:
  """`model.init` on a sample NHWC batch; returns the variables dict."""
  return model.init({"params": rng, "dropout": rng}, sample_input, train=False, **extra)


def create_train_state(model, tx: optax.GradientTransformation, sample_input: jax.Array,
                       seed: int, ema: bool, extra: dict | None = None,
                       variables: dict | None = None) -> TrainState:
  """A fresh state. `variables` (e.g. imported weights) replace the random init."""
  root = jax.random.PRNGKey(seed)
  if variables is None:
    variables = init_variables(model, sample_input, jax.random.fold_in(root, 0), **(extra or {}))
  variables = dict(variables)
  params = variables.pop("params")
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      model_state=variables,
      opt_state=tx.init(params),
      ema_params=jax.tree.map(jnp.copy, params) if ema else {},
      rng=jax.random.fold_in(root, 1),
      bad_step=jnp.full((), -1, jnp.int32),
  )
