"""Optimizer and learning-rate schedule from `config.optimizer`."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
import optax


def schedule(cfg: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
  """'constant', 'warmup_cosine' (linear warmup, cosine to lr*end_lr_factor) or
  'step' (x0.5 at each of cfg.boundaries, fractions of num_steps)."""
  lr = cfg.learning_rate
  warmup = min(int(cfg.warmup_steps), max(num_steps - 1, 0))
  if cfg.schedule == "constant":
    return optax.constant_schedule(lr) if not warmup else optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
  if cfg.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(
        0.0 if warmup else lr, lr, warmup, max(num_steps, warmup + 1),
        end_value=lr * cfg.end_lr_factor)
  if cfg.schedule == "step":
    bounds = {int(f * num_steps): 0.5 for f in cfg.boundaries}
    return optax.piecewise_constant_schedule(lr, bounds)
  raise ValueError(f"config.optimizer.schedule={cfg.schedule!r}: use constant, warmup_cosine or step.")


def clip_each_by_norm(max_norm: float) -> optax.GradientTransformation:
  """Scales each gradient array on its own to L2 norm <= max_norm (TensorFlow's
  `tf.clip_by_norm` applied per variable, as NLRN's training code does)."""
  def update(updates, state, params=None):
    del params
    def clip(g):
      norm = jnp.sqrt(jnp.sum(jnp.square(g)))
      return g * jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-30))
    return jax.tree.map(clip, updates), state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
                  ) -> optax.GradientTransformation:
  """`optax.scale_by_adam` (same state, `optax.ScaleByAdamState`, so checkpoints are
  interchangeable) with Adam's bias corrections 1 - b^t computed as -expm1(t log b), log b
  taken in float64 on the host: accurate to ~1e-7 relative in float32. optax computes b^t
  in float32 from b rounded to float32 (0.999 -> 0.99900001), so its 1 - b2^t is 1.3e-5
  relative off at t = 1 for b2 = 0.999 and 2e-4 off for 0.9999; PyTorch's Adam computes it
  in float64. That error alone moved our first update 6.5e-6 relative away from PyTorch's
  (experiments/parity)."""
  # b = 0 (no moving average): log b = -inf, so the correction is 1 from the first step
  log_b1, log_b2 = (math.log(b) if b > 0 else -math.inf for b in (b1, b2))

  def correction(log_b, count, dtype):
    return -jnp.expm1(count.astype(dtype) * jnp.asarray(log_b, dtype))

  def init(params):
    return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                  mu=optax.tree.zeros_like(params),
                                  nu=optax.tree.zeros_like(params))

  def update(updates, state, params=None):
    del params
    mu = jax.tree.map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
    nu = jax.tree.map(lambda g, v: (1 - b2) * jnp.square(g) + b2 * v, updates, state.nu)
    count = optax.safe_increment(state.count)
    # float32, or float64 when the moments are (a float64 run under jax_enable_x64)
    dtype = jnp.result_type(jnp.float32, *jax.tree.leaves(mu))
    c1, c2 = correction(log_b1, count, dtype), correction(log_b2, count, dtype)
    out = jax.tree.map(lambda m, v: (m / c1.astype(m.dtype))
                       / (jnp.sqrt(v / c2.astype(v.dtype)) + eps), mu, nu)
    return out, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init, update)


def build(cfg: ml_collections.ConfigDict, num_steps: int
          ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """`(tx, lr_schedule)`: optional clipping (of the global norm, or with
  `grad_clip_per_tensor` of each array's norm), then adam/adamw (`scale_by_adam`) or sgd."""
  lr = schedule(cfg, num_steps)
  name = cfg.name
  if name == "adam":  # the chains of optax.adam / optax.adamw, our scale_by_adam
    opt = optax.chain(scale_by_adam(cfg.b1, cfg.b2), optax.scale_by_learning_rate(lr))
  elif name == "adamw":
    opt = optax.chain(scale_by_adam(cfg.b1, cfg.b2),
                      optax.add_decayed_weights(cfg.weight_decay),
                      optax.scale_by_learning_rate(lr))
  elif name == "sgd":
    opt = optax.sgd(lr, momentum=cfg.momentum, nesterov=True)
  else:
    raise ValueError(f"config.optimizer.name={name!r}: use adam, adamw or sgd.")
  parts = []
  if cfg.grad_clip_norm and cfg.grad_clip_per_tensor:
    parts.append(clip_each_by_norm(cfg.grad_clip_norm))
  elif cfg.grad_clip_norm:
    parts.append(optax.clip_by_global_norm(cfg.grad_clip_norm))
  if name == "adam" and cfg.weight_decay:
    parts.append(optax.add_decayed_weights(cfg.weight_decay))
  parts.append(opt)
  return optax.chain(*parts), lr
