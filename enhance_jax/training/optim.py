"""Optimizer and learning-rate schedule from `config.optimizer`."""
from __future__ import annotations

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


def build(cfg: ml_collections.ConfigDict, num_steps: int
          ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """`(tx, lr_schedule)`: optional clipping (of the global norm, or with
  `grad_clip_per_tensor` of each array's norm), then adam/adamw/sgd."""
  lr = schedule(cfg, num_steps)
  name = cfg.name
  if name == "adam":
    opt = optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  elif name == "adamw":
    opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
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
