"""U-Net autoencoder with concatenated skips (d1..d5 / u1..u5 of the low-light study)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv, ConvAct, ConvTranspose
from enhance_jax.models.registry import register


class ConvBlock(nn.Module):
  """Two 3x3 convs, each followed by normalization and activation. `x` NHWC, or a tuple of
  NHWC arrays (an up level's upsampled features and skip) that the first conv reads as their
  channel concatenation (formed only where the conv is not a fused `ConvAct`)."""
  features: int
  activation: str = "relu"
  normalization: str | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array | tuple[jax.Array, ...], train: bool) -> jax.Array:
    for i in range(2):
      if self.normalization in (None, "none"):  # bias and activation fused into the conv
        x = ConvAct(self.features, (3, 3), self.activation, dtype=self.dtype, name=f"conv{i}")(x)
        continue
      if isinstance(x, tuple):
        x = jnp.concatenate(x, axis=-1)
      x = Conv(self.features, (3, 3), use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
      x = layers.normalization(self.normalization, train, activation=self.activation)(x)
    return x


@register("unet")
class UNet(nn.Module):
  """U-Net: `depth` down levels (conv block, 2x2 max-pool), a bottleneck, `depth`
  up levels (2x2 transposed conv, concat skip, conv block), 1x1 conv out.

  Features double per level from `features`. Any H, W: the input is padded
  (reflect) to a multiple of 2**depth and the output cropped back.
  `skips=False` drops the concatenated skips (ablation). `residual=True` adds
  the input to the output (in/out channels must match); `output_activation`
  bounds the output.
  """
  features: int = 32
  depth: int = 5
  out_channels: int = 3
  activation: str = "relu"
  normalization: str | None = None
  skips: bool = True
  residual: bool = False
  output_activation: str = "identity"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    n, h, w, _ = x.shape
    m = 2 ** self.depth
    ph, pw = (-h) % m, (-w) % m
    z = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect" if (ph < h and pw < w) else "edge")
    z = z.astype(self.dtype)
    block = lambda f, name: ConvBlock(f, self.activation, self.normalization, self.dtype, name=name)
    skips = []
    for i in range(self.depth):
      z = block(self.features * 2 ** i, f"down{i + 1}")(z, train)
      skips.append(z)
      z = layers.max_pool(z, 2)
    z = block(self.features * 2 ** self.depth, "bottleneck")(z, train)
    for i in reversed(range(self.depth)):
      f = self.features * 2 ** i
      z = ConvTranspose(f, (2, 2), (2, 2), dtype=self.dtype, name=f"upconv{i + 1}")(z)
      if self.skips:  # concatenated [upsampled, skip] (by the block's first conv)
        z = (z, skips[i])
      z = block(f, f"up{i + 1}")(z, train)
    z = Conv(self.out_channels, (1, 1), dtype=self.dtype, name="out")(z)
    z = z[:, :h, :w].astype(jnp.float32)
    if self.residual:
      z = z + x
    return layers.activation(self.output_activation)(z)
