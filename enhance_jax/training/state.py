"""The train state (everything a run needs to continue bit-exactly) and the one
way variables are initialised.

Keys: a run has one root key, `PRNGKey(config.seed)`, split by `fold_in` into
the named streams of `STREAMS` (`rng(seed, name)`): 'params' initialises the
model, 'discriminator' a GAN's discriminator, 'step' is the state's key (the
step's key is `fold_in(state.rng, step)`, split for the degradation, dropout
and GAN labels). The training data order and crops come from numpy generators
seeded `[config.seed, ...]` (data/pipeline.py); the eval degradation has its
own fixed key `config.eval.seed`, so runs of any seed are scored on the same
degraded images.
"""
from __future__ import annotations

from typing import Any, ClassVar

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

STREAMS = ("params", "dropout", "step", "discriminator")


def rng(seed: int, stream: str) -> jax.Array:
  """The key of `stream` (one of STREAMS): `fold_in(PRNGKey(seed), index)`."""
  if stream not in STREAMS:
    raise ValueError(f"Unknown key stream {stream!r}: use one of {', '.join(STREAMS)}.")
  return jax.random.fold_in(jax.random.PRNGKey(seed), STREAMS.index(stream))


def init_variables(model, seed: int, *args, stream: str = "params", abstract: bool = False,
                   **kwargs) -> dict:
  """`model.init(*args, train=False, **kwargs)` with the keys of `stream` (and
  'dropout'): THE variable initialisation of every network of a run. Returns
  host numpy arrays, or `jax.ShapeDtypeStruct`s when `abstract` (no compute)."""
  def init(params_key, dropout_key, *a):
    return model.init({"params": params_key, "dropout": dropout_key}, *a, train=False, **kwargs)
  keys = (rng(seed, stream), rng(seed, "dropout"))
  if abstract:
    return jax.eval_shape(init, *keys, *args)
  return jax.tree.map(np.asarray, init(*keys, *args))


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar; params / model_state (e.g. {'batch_stats': ...}) /
  ema_params and ema_model_state ({} when EMA is off) are pytrees; rng:
  uint32[2] raw key data; bad_step: int32, the first step whose loss or
  gradient was not finite (-1 if none) — set inside the compiled step so the
  host never syncs for it. ema_model_state is the EMA of the model state (BN
  running statistics), evaluated with the EMA parameters (`update_ema`).
  Fields named in SHARDED are sharded FSDP-style (mesh.state_sharding)."""
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
  ema_params: Any
  rng: jax.Array
  bad_step: jax.Array
  ema_model_state: Any

  SHARDED: ClassVar[tuple[str, ...]] = ("params", "opt_state", "ema_params")

  def variables(self, use_ema: bool = False) -> dict:
    """Flax variables for `model.apply`: with `use_ema` (and EMA on) the EMA
    parameters and the EMA of the model state (BN statistics)."""
    if use_ema and self.ema_params:
      return {"params": self.ema_params, **(self.ema_model_state or self.model_state)}
    return {"params": self.params, **self.model_state}

  @classmethod
  def create(cls, variables: dict, tx: optax.GradientTransformation, seed: int, ema: bool,
             **extra):
    """Step 0 from `variables` (params + model state), with key `rng(seed, 'step')`;
    `extra` fills the fields of a subclass."""
    variables = dict(variables)
    params = variables.pop("params")
    return cls(step=jnp.zeros((), jnp.int32), params=params, model_state=variables,
               opt_state=tx.init(params),
               ema_params=jax.tree.map(jnp.copy, params) if ema else {},
               rng=rng(seed, "step"), bad_step=jnp.full((), -1, jnp.int32),
               ema_model_state=jax.tree.map(jnp.copy, variables) if ema else {}, **extra)


def ema_decay_at(decay: float, step: jax.Array, warmup: bool = False) -> jax.Array:
  """The EMA decay used at update `step` (0-based): `decay`, or with `warmup`
  min(decay, (1 + step) / (10 + step)) (so early averages are not dominated by
  the initial weights)."""
  if not warmup:
    return jnp.asarray(decay, jnp.float32)
  t = step.astype(jnp.float32)
  return jnp.minimum(jnp.float32(decay), (1.0 + t) / (10.0 + t))


def update_ema(state: TrainState, params, model_state, decay: float, warmup: bool = False):
  """(ema_params, ema_model_state) after an update to (params, model_state):
  e <- d e + (1 - d) x for both, d = `ema_decay_at(decay, state.step, warmup)`.
  Unchanged when EMA is off (decay 0 or no EMA in the state)."""
  if not (decay and state.ema_params):
    return state.ema_params, state.ema_model_state
  d = ema_decay_at(decay, state.step, warmup)
  avg = lambda e, x: (d * e + (1.0 - d) * x).astype(e.dtype)  # noqa: E731
  ema_ms = state.ema_model_state
  if ema_ms and jax.tree.structure(ema_ms) == jax.tree.structure(model_state):
    ema_ms = jax.tree.map(avg, ema_ms, model_state)
  return jax.tree.map(avg, state.ema_params, params), ema_ms


def create_train_state(model, tx: optax.GradientTransformation, sample_input: jax.Array,
                       seed: int, ema: bool, extra: dict | None = None,
                       variables: dict | None = None) -> TrainState:
  """A fresh state: `variables` (e.g. imported weights) or `init_variables` on
  `sample_input` (NHWC) and the model's `extra` inputs."""
  if variables is None:
    variables = init_variables(model, seed, sample_input, **(extra or {}))
  return TrainState.create(variables, tx, seed, ema)
