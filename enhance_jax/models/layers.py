"""Small building blocks shared by several model families.

All tensors are NHWC.
"""
from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import batch_norm

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "prelu_like": lambda x: nn.leaky_relu(x, 0.25),
    "sigmoid": nn.sigmoid,
    "tanh": jnp.tanh,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "silu": nn.silu,
    "identity": lambda x: x,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  """Looks up an activation by name ('relu', 'leaky_relu', 'sigmoid', ...)."""
  try:
    return ACTIVATIONS[name]
  except KeyError:
    raise KeyError(f"Unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


_activation_by_name = activation  # `normalization` has a parameter of that name


def kernel_initializer(name: str, gain: float = 1.0) -> Callable:
  """A conv/dense kernel initializer by name, its samples multiplied by `gain`.

  'lecun_normal' (Flax's default: std 1/sqrt(fan_in)); 'he_normal' (std
  sqrt(2/fan_in), the DnCNN paper's); 'torch' (PyTorch's default for Conv2d:
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std 1/sqrt(3 fan_in)); 'orthogonal' (the
  kernel reshaped to (kh*kw*in, out) has orthonormal columns, or rows when out is
  larger; KAIR's DnCNN recipe uses it with gain 0.2). fan_in = kh*kw*in.
  """
  def orthogonal(key, shape, dtype=jnp.float32):
    # flax's orthogonal() acts on the last two axes; a conv kernel's rows are kh*kw*in.
    flat = (math.prod(shape[:-1]), shape[-1])
    return nn.initializers.orthogonal()(key, flat, dtype).reshape(shape)

  inits = {
      "lecun_normal": nn.initializers.lecun_normal(),
      "he_normal": nn.initializers.he_normal(),
      "torch": nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
      "orthogonal": orthogonal,
  }
  if name not in inits:
    raise KeyError(f"Unknown kernel initializer {name!r}; known: {sorted(inits)}")
  base = inits[name]
  if gain == 1.0:
    return base
  return lambda key, shape, dtype=jnp.float32: gain * base(key, shape, dtype)


# Initializers of a normalization layer's scale (gamma) by name: 'ones' (Flax's default),
# 'zeros' (a residual branch starts as zero), 'uniform' (U(0.1, 1): KAIR's DnCNN recipe).
SCALE_INITS = {
    "ones": nn.initializers.ones,
    "zeros": nn.initializers.zeros,
    "uniform": lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                         0.1, 1.0),
}


def normalization(name: str | None, train: bool, scale_init: str = "ones",
                  activation: str | None = None) -> Callable[[jax.Array], jax.Array]:
  """A fresh normalization layer: 'batch', 'layer', 'group', 'instance' or None/'none',
  followed by the `activation` of that name if one is given (None: no activation).

  Must be called inside a compact method. BatchNorm (`batch_norm.BatchNorm`, Flax's
  variables and results) keeps its statistics in the 'batch_stats' collection and uses
  them when `train` is False; 'batch' then 'relu' run as one fused op with a hand-written
  gradient. `scale_init` names the scale (gamma) initializer (`SCALE_INITS`); 'zeros' makes
  a residual branch ending in the norm start as zero (the non-local block's reference init).
  """
  act = (lambda x: x) if activation is None else _activation_by_name(activation)
  if name in (None, "none", ""):
    return act
  if scale_init not in SCALE_INITS:
    raise KeyError(f"Unknown scale_init {scale_init!r}; known: {sorted(SCALE_INITS)}")
  kw = {"scale_init": SCALE_INITS[scale_init]}
  if name == "batch":
    fused = activation if activation in batch_norm.FUSED_ACTIVATIONS else None
    norm = batch_norm.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                activation=fused, **kw)
    return norm if fused or activation is None else (lambda x: act(norm(x)))
  if name == "layer":
    norm = nn.LayerNorm(**kw)
  elif name == "group":
    norm = nn.GroupNorm(num_groups=8, **kw)
  elif name == "instance":
    norm = nn.GroupNorm(num_groups=None, group_size=1, **kw)
  else:
    raise KeyError(f"Unknown normalization {name!r}; use batch, layer, group, instance or none.")
  return norm if activation is None else (lambda x: act(norm(x)))


def output_dtype(x: jax.Array):
  """A model's output dtype for input `x`: float32 (also when it computes in bfloat16), or
  float64 for a float64 input (a run under `jax_enable_x64`, e.g. experiments/parity's
  float64 comparison)."""
  return jnp.promote_types(x.dtype, jnp.float32)


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
  """Depth-to-space: (N, H, W, C*r*r) -> (N, H*r, W*r, C), PyTorch channel order."""
  n, h, w, c = x.shape
  if c % (r * r):
    raise ValueError(f"pixel_shuffle: {c} channels are not divisible by r*r={r * r}.")
  co = c // (r * r)
  x = x.reshape(n, h, w, co, r, r)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(n, h * r, w * r, co)


def pixel_unshuffle(x: jax.Array, r: int) -> jax.Array:
  """Space-to-depth, the inverse of `pixel_shuffle`: (N, H, W, C) -> (N, H/r, W/r, C*r*r)."""
  n, h, w, c = x.shape
  if h % r or w % r:
    raise ValueError(f"pixel_unshuffle: spatial size {h}x{w} is not divisible by {r}.")
  x = x.reshape(n, h // r, r, w // r, r, c)
  x = x.transpose(0, 1, 3, 5, 2, 4)
  return x.reshape(n, h // r, w // r, c * r * r)


def max_pool(x: jax.Array, window: int) -> jax.Array:
  """Non-overlapping max pooling (stride = window, 'VALID'): (N, H, W, C) -> (N, H//w, W//w, C).

  A reshape and a max, whose gradient is elementwise: on CPU, fwd+bwd of the
  U-Net's pools is 8x faster than `nn.max_pool`, whose gradient is a
  select-and-scatter. Where a window has tied maxima the gradient is shared
  between them instead of going to the first one.
  """
  n, h, w, c = x.shape
  ho, wo = h // window, w // window
  x = x[:, :ho * window, :wo * window]
  return x.reshape(n, ho, window, wo, window, c).max(axis=(2, 4))
