"""Small building blocks shared by several model families.

All tensors are NHWC.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

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


def normalization(name: str | None, train: bool,
                  zero_scale: bool = False) -> Callable[[jax.Array], jax.Array]:
  """A fresh normalization layer: 'batch', 'layer', 'group', 'instance' or None/'none'.

  Must be called inside a compact method. BatchNorm keeps its statistics in the
  'batch_stats' collection and uses them when `train` is False. `zero_scale`
  initialises the scale (gamma) to 0, so a residual branch ending in the norm
  starts as zero (the non-local block's reference init).
  """
  if name in (None, "none", ""):
    return lambda x: x
  kw = {}
  if zero_scale:
    kw["scale_init"] = nn.initializers.zeros
  if name == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, **kw)
  if name == "layer":
    return nn.LayerNorm(**kw)
  if name == "group":
    return nn.GroupNorm(num_groups=8, **kw)
  if name == "instance":
    return nn.GroupNorm(num_groups=None, group_size=1, **kw)
  raise KeyError(f"Unknown normalization {name!r}; use batch, layer, group, instance or none.")


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
