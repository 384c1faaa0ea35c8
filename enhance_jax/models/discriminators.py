"""GAN discriminators; all return raw logits (no sigmoid), NHWC.

`dtype` is the compute dtype of the layers; the logits are float32.
Every discriminator takes `__call__(x, cond=None, *, train=False)`: with `cond`
(e.g. the gray or degraded input) it judges the pair concat(cond, x) along
channels, which makes it a conditional discriminator.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


def _with_cond(x: jax.Array, cond: jax.Array | None) -> jax.Array:
  if cond is None:
    return x
  if cond.shape[:3] != x.shape[:3]:
    raise ValueError(f"discriminator: cond {cond.shape} and image {x.shape} differ in N, H or W.")
  return jnp.concatenate([cond, x], axis=-1)


def _no_norm(name: str | None) -> bool:
  return name in (None, "none", "")


@register("patchgan")
class PatchGAN(nn.Module):
  """70x70 PatchGAN (pix2pix): C64-C128-C256-C512, 4x4 convs with padding 1,
  stride 2 except the last two, LeakyReLU(0.2), no norm on the first, then a
  4x4 conv to one logit per patch. `n_layers=3` gives the 70x70 receptive field.
  x: (B, H, W, C) in [0, 1] (H, W >= 24) [+ cond (B, H, W, C')] ->
  (B, ~H/8 - 2, ~W/8 - 2, 1) logits.
  """
  features: int = 64
  n_layers: int = 3
  normalization: str | None = "batch"
  activation: str = "leaky_relu"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, cond: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    act = layers.activation(self.activation)
    pad = ((1, 1), (1, 1))
    h = _with_cond(x, cond)
    h = Conv(self.features, (4, 4), strides=(2, 2), padding=pad, dtype=self.dtype,
             name="conv0")(h)
    h = act(h)
    for i in range(1, self.n_layers + 1):
      f = self.features * 2 ** min(i, 3)
      s = 2 if i < self.n_layers else 1
      h = Conv(f, (4, 4), strides=(s, s), padding=pad, use_bias=_no_norm(self.normalization),
               dtype=self.dtype, name=f"conv{i}")(h)
      h = layers.normalization(self.normalization, train, activation=self.activation)(h)
    return Conv(1, (4, 4), padding=pad, dtype=self.dtype, name="logits")(h).astype(jnp.float32)


@register("srgan_disc")
class SRGANDiscriminator(nn.Module):
  """SRGAN discriminator (Ledig et al. 2017): 3x3 convs 64, 64/s2, 128, 128/s2,
  256, 256/s2, 512, 512/s2 with LeakyReLU(0.2) (norm on all but the first),
  then dense 1024 - LeakyReLU - dense 1. `flatten=True` is the paper's head:
  the last feature map is flattened (a fixed input size: 96x96 -> 6x6x512 ->
  18,432 inputs to the dense layer); by default it is global-average-pooled
  instead, so any input size works.
  x: (B, H, W, C) in [0, 1] [+ cond] -> (B, 1, 1, 1) logits.
  """
  features: int = 64
  n_blocks: int = 8
  dense: int = 1024
  normalization: str | None = "batch"
  activation: str = "leaky_relu"
  flatten: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, cond: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    act = layers.activation(self.activation)
    h = _with_cond(x, cond)
    for i in range(self.n_blocks):
      f = self.features * 2 ** min(i // 2, 3)
      s = 2 if i % 2 else 1
      h = Conv(f, (3, 3), strides=(s, s), use_bias=i == 0 or _no_norm(self.normalization),
               dtype=self.dtype, name=f"conv{i}")(h)
      if i > 0:
        h = layers.normalization(self.normalization, train)(h)
      h = act(h)
    if self.flatten:
      h = h.reshape(h.shape[0], 1, 1, -1)
    else:
      h = h.mean(axis=(1, 2), keepdims=True)
    h = act(nn.Dense(self.dense, dtype=self.dtype, name="dense")(h))
    return nn.Dense(1, dtype=self.dtype, name="logits")(h).astype(jnp.float32)


@register("colorization_disc")
class ColorizationDiscriminator(nn.Module):
  """The colorization study's discriminator: 4 conv layers (4x4, stride 2,
  `features` channels) with ReLU, then a global average pool and a dense
  layer to one logit per image. The study names only "4 conv layers with
  ReLU"; kernel size, stride, widths and the pooled head are our choices (the
  pool makes any input size work). Pass the gray input as `cond` to judge
  (input, output) pairs.
  x: (B, H, W, 3) in [0, 1] [+ cond (B, H, W, 1)] -> (B, 1, 1, 1) logits.
  """
  features: tuple[int, ...] = (64, 128, 256, 512)
  normalization: str | None = None
  activation: str = "relu"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, cond: jax.Array | None = None, *,
               train: bool = False) -> jax.Array:
    h = _with_cond(x, cond)
    for i, f in enumerate(self.features):
      h = Conv(f, (4, 4), strides=(2, 2), use_bias=_no_norm(self.normalization),
               dtype=self.dtype, name=f"conv{i}")(h)
      h = layers.normalization(self.normalization, train, activation=self.activation)(h)
    h = h.mean(axis=(1, 2), keepdims=True)
    return nn.Dense(1, dtype=self.dtype, name="logits")(h).astype(jnp.float32)
