"""DnCNN (Zhang et al., TIP 2017): a plain conv stack predicting the noise residual.

conv+act, (depth-2) x [conv, norm, act], conv; output = input - net(input).
Defaults are the paper's DnCNN-S (17 layers, 64 features, BatchNorm, convs
without bias: 556,032 parameters for gray). The official MatConvNet release has
BN folded into conv biases: use `normalization="none", use_bias=True`.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


@register("dncnn")
class DnCNN(nn.Module):
  """x: NHWC float32 in [0, 1] (noisy) -> NHWC float32 (denoised, not clipped).

  Attributes:
    depth: number of conv layers (17 for DnCNN-S, 20 for -B / CDnCNN-B / DnCNN-3).
    features: width of the hidden convs.
    kernel_size: spatial kernel side (zero 'same' padding).
    normalization: normalization of the middle layers ('batch', 'none', ...).
    activation: `layers.activation` name.
    use_bias: conv biases (False in the paper/SaoYan, True in MatConvNet/KAIR).
    residual: True = predict the noise (output = x - net(x)); False = predict the clean image.
    out_channels: output channels (default: input channels).
    kernel_init: conv kernel initializer (`layers.kernel_initializer`: 'lecun_normal'
      (Flax's default), 'he_normal' (the paper's), 'torch', 'orthogonal').
    init_gain: multiplies the initial kernels (KAIR's recipe: 'orthogonal' x 0.2).
    norm_scale_init: initial BN scale (`layers.SCALE_INITS`: 'ones', or 'uniform' U(0.1, 1)
      as KAIR's recipe). With Flax's default init the last conv (no BN after it) starts
      predicting "noise" of std ~1, far from the identity map; a small init_gain starts at
      it and trains much faster: experiments/results/dncnn_init.md measures it.
    dtype: compute dtype of the convs (output and residual float32, or float64 for a float64
      input: `layers.output_dtype`).
  """
  depth: int = 17
  features: int = 64
  kernel_size: int = 3
  normalization: str = "batch"
  activation: str = "relu"
  use_bias: bool = False
  residual: bool = True
  out_channels: int | None = None
  kernel_init: str = "lecun_normal"
  init_gain: float = 1.0
  norm_scale_init: str = "ones"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    if self.depth < 2:
      raise ValueError(f"dncnn: depth must be >= 2, got {self.depth}.")
    out_ch = self.out_channels or x.shape[-1]
    act = layers.activation(self.activation)
    k = (self.kernel_size, self.kernel_size)
    init = layers.kernel_initializer(self.kernel_init, self.init_gain)
    conv = lambda f, name: Conv(f, k, padding="SAME", use_bias=self.use_bias, dtype=self.dtype,
                                kernel_init=init, name=name)
    h = act(conv(self.features, "conv0")(x))
    for i in range(1, self.depth - 1):
      h = conv(self.features, f"conv{i}")(h)
      h = layers.normalization(self.normalization, train, scale_init=self.norm_scale_init,
                               activation=self.activation)(h)
    h = conv(out_ch, f"conv{self.depth - 1}")(h).astype(layers.output_dtype(x))
    if self.residual:
      if out_ch != x.shape[-1]:
        raise ValueError(f"dncnn: residual needs out_channels == input channels "
                         f"({out_ch} != {x.shape[-1]}).")
      return x - h
    return h
