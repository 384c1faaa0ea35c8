"""pix2pix U-Net generator (Isola et al. 2017) with a dilated bottleneck.

The colorization study: a gray 120x120 image goes through strided conv
encoder blocks, a bottleneck of dilated 3x3 convs that widen the receptive
field, and transposed-conv decoder blocks with concatenated skips, giving a
120x120 RGB image.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv, ConvTranspose
from enhance_jax.models.registry import register


@register("pix2pix_unet")
class Pix2PixUNet(nn.Module):
  """pix2pix U-Net generator.

  Encoder: per entry of `features`, 4x4 stride-2 conv - norm - LeakyReLU(0.2)
  (no norm on the first, as in pix2pix). Bottleneck at 1/2**depth: one 3x3
  conv - norm - act per entry of `dilations` (dilation rate). Decoder: 4x4
  stride-2 transposed conv - norm - dropout (first `n_dropout` blocks) - ReLU,
  concatenated with the encoder feature of the same scale (`skips=False`
  drops them, ablation); a last 4x4 stride-2 transposed conv to
  `out_channels` and `output_activation` ('tanh' mapped to [0, 1] by
  (t + 1) / 2, or 'sigmoid'). Any H, W: the input is reflect-padded to a
  multiple of 2**depth and the output cropped. The input is mapped to
  [-1, 1] inside. Defaults follow the colorization study: three encoder
  blocks (120 -> 15, no padding needed), a dilated bottleneck, three
  transposed-conv blocks back to 120. `dtype` is the compute dtype of the convs.
  x: (B, H, W, in_channels) in [0, 1] -> (B, H, W, out_channels) float32 in [0, 1].
  """
  features: tuple[int, ...] = (64, 128, 256)
  dilations: tuple[int, ...] = (2, 4, 8)
  out_channels: int = 3
  normalization: str | None = "batch"
  activation: str = "leaky_relu"
  decoder_activation: str = "relu"
  dropout: float = 0.5
  n_dropout: int = 1
  skips: bool = True
  output_activation: str = "tanh"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    _, h, w, _ = x.shape
    depth = len(self.features)
    m = 2 ** depth
    ph, pw = (-h) % m, (-w) % m
    z = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)),
                mode="reflect" if (ph < h and pw < w) else "edge")
    z = 2.0 * z - 1.0  # pix2pix works in [-1, 1]
    act = layers.activation(self.activation)
    dec_act = layers.activation(self.decoder_activation)
    no_norm = self.normalization in (None, "none", "")
    skips = []
    for i, f in enumerate(self.features):
      z = Conv(f, (4, 4), strides=(2, 2), use_bias=no_norm or i == 0, dtype=self.dtype,
               name=f"enc{i}")(z)
      if i > 0:
        z = layers.normalization(self.normalization, train)(z)
      z = act(z)
      skips.append(z)
    for i, rate in enumerate(self.dilations):
      z = Conv(self.features[-1], (3, 3), kernel_dilation=(rate, rate), use_bias=no_norm,
               dtype=self.dtype, name=f"dilated{i}")(z)
      z = act(layers.normalization(self.normalization, train)(z))
    for j, i in enumerate(range(depth - 2, -1, -1)):
      # The innermost block sees the encoder output itself unless a bottleneck
      # sits in between, in which case that output is skipped around it.
      if self.skips and (j > 0 or self.dilations):
        z = jnp.concatenate([z, skips[i + 1]], axis=-1)
      z = ConvTranspose(self.features[i], (4, 4), strides=(2, 2), use_bias=no_norm,
                        dtype=self.dtype, name=f"dec{j}")(z)
      z = layers.normalization(self.normalization, train)(z)
      if j < self.n_dropout and self.dropout > 0:
        z = nn.Dropout(self.dropout, deterministic=not train)(z)
      z = dec_act(z)
    if self.skips:
      z = jnp.concatenate([z, skips[0]], axis=-1)
    z = ConvTranspose(self.out_channels, (4, 4), strides=(2, 2), dtype=self.dtype,
                      name="dec_out")(z).astype(jnp.float32)
    if self.output_activation == "tanh":
      z = (jnp.tanh(z) + 1.0) / 2.0
    else:
      z = layers.activation(self.output_activation)(z)
    return z[:, :h, :w]
