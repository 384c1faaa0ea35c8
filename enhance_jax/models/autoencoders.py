"""Stacked denoising autoencoders (LLNet-style), fully convolutional.

LLNet (Lore et al., Pattern Recognition 2017) encodes each p x p patch with
dense sigmoid layers (867-578-289 hidden units for 17 x 17 gray patches),
decodes it back to a p x p patch and averages overlapping patch outputs. A
dense layer on every p x p patch is a p x p 'valid' convolution, and the
following dense layers are 1x1 convolutions, so `mode='patch'` computes
exactly that for every patch position (stride 1) of an image of any size.
`mode='conv'` is a plain strided conv encoder / transposed-conv decoder.
Greedy layer-wise pre-training of the stack is a training-side choice and is
not part of the module.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv, ConvTranspose
from enhance_jax.models.registry import register


def _fold_kernel(p: int, c: int) -> np.ndarray:
  """One-hot (p, p, p*p*c, c) kernel that overlap-adds per-position patches."""
  k = np.zeros((p, p, p, p, c, c), np.float32)
  for a in range(p):
    for b in range(p):
      k[p - 1 - a, p - 1 - b, a, b] = np.eye(c, dtype=np.float32)
  return k.reshape(p, p, p * p * c, c)


def fold_patches(patches: jax.Array, p: int) -> jax.Array:
  """Overlap-add: (B, H, W, p*p*C) patches (the patch at (i, j) covers padded
  pixels [i, i+p) x [j, j+p), ordered (row, col, channel)) -> (B, H+p-1, W+p-1, C) sums."""
  c = patches.shape[-1] // (p * p)
  return jax.lax.conv_general_dilated(
      patches, jnp.asarray(_fold_kernel(p, c)), (1, 1), [(p - 1, p - 1), (p - 1, p - 1)],
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _coverage(n: int, p: int, r0: int) -> np.ndarray:
  """How many of the n stride-1 patch positions cover each original pixel (length n)."""
  y = np.arange(n) + r0  # padded coordinate of each original pixel
  return (np.minimum(y, n - 1) - np.maximum(y - p + 1, 0) + 1).astype(np.float32)


@register("dae")
class DenoisingAutoencoder(nn.Module):
  """Stacked denoising autoencoder.

  mode='patch' (LLNet): reflect-pad by the patch radius, p x p conv to
  features[0], 1x1 convs through features[1:] and back (mirrored), 1x1 conv to
  p*p*C, output activation, overlap-add of the patches divided by coverage.
  Default features (3d, 2d, d) with d = p*p*C (LLNet: 867-578-289 for p=17, C=1).
  mode='conv': 3x3 stride-2 convs through `features` (default (32, 64, 128)),
  3x3 stride-2 transposed convs back, 3x3 conv to C, output activation; the
  input is reflect-padded to a multiple of 2**len(features) and cropped back.
  `activation` defaults to sigmoid (patch) / relu (conv).
  `dtype` is the compute dtype of the convs.
  x: (B, H, W, C) in [0, 1] -> (B, H, W, out_channels or C) float32 in [0, 1] (sigmoid).
  """
  mode: str = "patch"
  patch: int = 17
  features: tuple[int, ...] | None = None
  activation: str | None = None
  normalization: str | None = None
  output_activation: str = "sigmoid"
  out_channels: int | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    if self.mode == "patch":
      return self._patch(x, train)
    if self.mode == "conv":
      return self._conv(x, train)
    raise ValueError(f"dae: unknown mode {self.mode!r}; use 'patch' or 'conv' (model.kwargs.mode).")

  def _block(self, h, conv, train):
    act = self.activation or ("sigmoid" if self.mode == "patch" else "relu")
    return layers.normalization(self.normalization, train, activation=act)(conv(h))

  def _patch(self, x, train):
    _, h, w, c = x.shape
    co = self.out_channels or c
    p = self.patch
    r0, r1 = (p - 1) // 2, p - 1 - (p - 1) // 2
    d = p * p * c
    feats = tuple(self.features or (3 * d, 2 * d, d))
    mode = "reflect" if max(r0, r1) < min(h, w) else "edge"
    z = jnp.pad(x, ((0, 0), (r0, r1), (r0, r1), (0, 0)), mode=mode)
    enc0 = Conv(feats[0], (p, p), padding="VALID", dtype=self.dtype, name="enc0")
    z = self._block(z, enc0, train)
    for i, f in enumerate(feats[1:]):
      z = self._block(z, Conv(f, (1, 1), dtype=self.dtype, name=f"enc{i + 1}"), train)
    for i, f in enumerate(feats[-2::-1]):
      z = self._block(z, Conv(f, (1, 1), dtype=self.dtype, name=f"dec{i}"), train)
    z = Conv(p * p * co, (1, 1), dtype=self.dtype, name="dec_out")(z)
    z = layers.activation(self.output_activation)(z.astype(jnp.float32))
    y = fold_patches(z, p)[:, r0:r0 + h, r0:r0 + w]
    cov = _coverage(h, p, r0)[:, None] * _coverage(w, p, r0)[None, :]
    return y / jnp.asarray(cov)[None, :, :, None]

  def _conv(self, x, train):
    _, h, w, c = x.shape
    co = self.out_channels or c
    feats = tuple(self.features or (32, 64, 128))
    m = 2 ** len(feats)
    ph, pw = (-h) % m, (-w) % m
    z = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)),
                mode="reflect" if (ph < h and pw < w) else "edge")
    for i, f in enumerate(feats):
      enc = Conv(f, (3, 3), strides=(2, 2), dtype=self.dtype, name=f"enc{i}")
      z = self._block(z, enc, train)
    for i, f in enumerate(feats[-2::-1] + feats[:1]):
      dec = ConvTranspose(f, (3, 3), strides=(2, 2), dtype=self.dtype, name=f"dec{i}")
      z = self._block(z, dec, train)
    z = Conv(co, (3, 3), dtype=self.dtype, name="dec_out")(z).astype(jnp.float32)
    return layers.activation(self.output_activation)(z)[:, :h, :w]
