"""Zero-DCE (Guo et al., CVPR 2020): per-pixel quadratic light-enhancement curves.

7 conv layers (32 ch, 3x3) with symmetric skip concatenations
(conv5 on [x3, x4], conv6 on [x2, x5], conv7 on [x1, x6]), tanh -> 24 maps =
8 curves r_1..r_8 of 3 channels; the image is enhanced by iterating
x <- x + r_k (x^2 - x), k = 1..8.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


def apply_curves(x: jax.Array, curves: jax.Array) -> jax.Array:
  """x: (N, H, W, C) in [0, 1]; curves: (N, H, W, K*C) in [-1, 1] -> enhanced (N, H, W, C)."""
  c = x.shape[-1]
  for k in range(curves.shape[-1] // c):
    r = curves[..., k * c:(k + 1) * c]
    x = x + r * (x * x - x)
  return x


@register("zerodce")
class ZeroDCE(nn.Module):
  """x: NHWC RGB in [0, 1] (low light) -> enhanced NHWC in about [0, 1].

  With `return_curves=True` returns (enhanced, curves (N, H, W, iterations*C))
  for the non-reference losses (the curves are also sown as
  intermediates['curves']). `init_std` > 0 draws the conv kernels from
  N(0, init_std^2) (the official training uses 0.02, which starts the curves
  near 0, i.e. near the identity); 0 keeps the default init.
  """
  features: int = 32
  iterations: int = 8
  normalization: str = "none"
  activation: str = "relu"
  init_std: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, return_curves: bool = False,
               **extra):
    del extra
    c = x.shape[-1]

    init = dict(kernel_init=nn.initializers.normal(self.init_std)) if self.init_std > 0 else {}

    def conv(h, features, name, last=False):
      h = Conv(features, (3, 3), padding="SAME", dtype=self.dtype, name=name, **init)(h)
      return h if last else layers.normalization(self.normalization, train,
                                                 activation=self.activation)(h)

    f = self.features
    x1 = conv(x, f, "e_conv1")
    x2 = conv(x1, f, "e_conv2")
    x3 = conv(x2, f, "e_conv3")
    x4 = conv(x3, f, "e_conv4")
    x5 = conv(jnp.concatenate([x3, x4], -1), f, "e_conv5")
    x6 = conv(jnp.concatenate([x2, x5], -1), f, "e_conv6")
    curves = jnp.tanh(conv(jnp.concatenate([x1, x6], -1), self.iterations * c, "e_conv7",
                           last=True).astype(jnp.float32))
    self.sow("intermediates", "curves", curves)
    out = apply_curves(x, curves)
    return (out, curves) if return_curves else out
