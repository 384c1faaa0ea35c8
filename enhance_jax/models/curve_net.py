"""CurveNet: per-pixel tone curves on the brightness V = max(R, G, B) (our adaptation of
Zero-DCE's curve estimation, not the paper's model: see models/zerodce.py for that one).

A few 3x3 conv layers (DCE-Net-like, no down-sampling) predict per-pixel curve parameters
from the RGB input; the curve maps V to f(V) and every channel is scaled by f(V) / V:

    V = max_c x_c,   y_c = x_c * f(V) / V      (y = f(0) = 0 where V = 0)

so every pixel keeps its channel ratios (hue and saturation) exactly and max_c y_c =
f(V) <= 1: no channel is pushed past white unless its V is, and no colour cast is possible
(gray stays gray; a 1-channel image is just y = f(x)). Curves (`curve`), each monotone on
[0, 1] with f(0) = 0 and f(1) = 1:
  'rational':  f(V) = g V / (1 + (g - 1) V), gain g in [1/max_gain, max_gain]
               (exp(log(max_gain) tanh(z))): slope g at black, 1/g at white; g > 1
               brightens, g = 1 is the identity.
  'gamma':     f(V) = V ** a, a in [min_exponent, max_exponent] (sigmoid of the net's map):
               a < 1 brightens, a > 1 darkens.
  'quadratic': Zero-DCE's iterated LE curve on V: V <- V + r_k (V^2 - V), r_k in [-1, 1]
               (tanh), k = 1..iterations.
`highlight_slope` k > 0 then caps the curve at 1 - k (1 - V) (f <- min(f, 1 - k (1 - V))):
the distance to white shrinks at most 1/k-fold, so highlights keep their detail and only
pixels with V >= 1 - 0.002 / k (k = 0.25: uint8 >= 253) can reach 255.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register

EPS = 1e-6


def gamma_curve(v: jax.Array, exponent: jax.Array) -> jax.Array:
  """v ** exponent for v in [0, 1] (0 stays 0), with finite gradients at v = 0."""
  return jnp.where(v > 0, jnp.exp(exponent * jnp.log(jnp.maximum(v, EPS))), 0.0)


def rational_curve(v: jax.Array, gain: jax.Array) -> jax.Array:
  """g v / (1 + (g - 1) v) for v in [0, 1], gain g > 0: slope g at 0 and 1/g at 1."""
  return gain * v / (1.0 + (gain - 1.0) * v)


def quadratic_curve(v: jax.Array, r: jax.Array) -> jax.Array:
  """Zero-DCE's LE curve iterated over the last axis of r: v (..., 1), r (..., K) in [-1, 1]."""
  for k in range(r.shape[-1]):
    v = v + r[..., k:k + 1] * (v * v - v)
  return v


def scale_by_value(x: jax.Array, v_new: jax.Array) -> jax.Array:
  """x (N, H, W, C) in [0, 1] with its channels scaled so that their max V becomes v_new
  (N, H, W, 1) in [0, 1]: x * v_new / V, channel ratios kept; black pixels become gray
  v_new."""
  v = jnp.max(x, axis=-1, keepdims=True)
  rel = jnp.where(v > EPS, x / jnp.maximum(v, EPS), 1.0)
  return v_new * rel


@register("curve_net")
class CurveNet(nn.Module):
  """x: NHWC in [0, 1] (C = 3 RGB, or 1 gray) -> enhanced NHWC in [0, 1], same shape.

  `depth` conv layers of `features` channels (3x3, ReLU) then a 3x3 conv to the curve
  parameters: one map (the gain 'rational', the exponent 'gamma') or `iterations` maps
  ('quadratic'). Receptive radius depth + 1 pixels. With `return_curves=True` returns (y, parameter maps (N, H, W, maps)).
  """
  features: int = 16
  depth: int = 4
  curve: str = "rational"
  max_gain: float = 32.0
  min_exponent: float = 0.25
  max_exponent: float = 1.5
  iterations: int = 8
  highlight_slope: float = 0.25
  activation: str = "relu"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, return_curves: bool = False,
               **extra):
    del train, extra
    if self.curve not in ("rational", "gamma", "quadratic"):
      raise ValueError(f"curve_net: curve={self.curve!r}; use 'rational', 'gamma' or "
                       "'quadratic'.")
    if not 0 < self.min_exponent <= 1 <= self.max_exponent or self.max_gain < 1:
      raise ValueError(f"curve_net: need 0 < min_exponent <= 1 <= max_exponent and "
                       f"max_gain >= 1, got {self.min_exponent}, {self.max_exponent}, "
                       f"{self.max_gain}.")
    if not 0 <= self.highlight_slope <= 1:
      raise ValueError(f"curve_net: highlight_slope={self.highlight_slope}: must be in [0, 1].")
    act = layers.activation(self.activation)
    h = x
    for i in range(self.depth):
      h = act(Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype, name=f"conv{i}")(h))
    maps = self.iterations if self.curve == "quadratic" else 1
    z = Conv(maps, (3, 3), padding="SAME", dtype=self.dtype, name="head")(h).astype(jnp.float32)
    x = x.astype(jnp.float32)
    v = jnp.max(x, axis=-1, keepdims=True)
    if self.curve == "rational":
      params = jnp.exp(math.log(self.max_gain) * jnp.tanh(z))
      v_new = rational_curve(v, params)
    elif self.curve == "gamma":
      params = self.min_exponent + (self.max_exponent - self.min_exponent) * nn.sigmoid(z)
      v_new = gamma_curve(v, params)
    else:
      params = jnp.tanh(z)
      v_new = quadratic_curve(v, params)
    if self.highlight_slope > 0:
      v_new = jnp.minimum(v_new, 1.0 - self.highlight_slope * (1.0 - v))
    y = scale_by_value(x, jnp.clip(v_new, 0.0, 1.0))
    return (y, params) if return_curves else y
