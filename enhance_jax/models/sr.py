"""Super-resolution nets: SRCNN (on a bicubic-upsampled input), a sub-pixel net on the LR image."""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register

# MATLAB rgb2ycbcr for [0, 1] inputs: ycbcr = (OFFSET + M @ rgb) / 255.
_YCBCR_M = np.array([[65.481, 128.553, 24.966],
                     [-37.797, -74.203, 112.0],
                     [112.0, -93.786, -18.214]], np.float32)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], np.float32)


def rgb_to_ycbcr(x: jax.Array) -> jax.Array:
  """MATLAB `rgb2ycbcr` on NHWC RGB in [0, 1] -> YCbCr in [0, 1] (Y in [16, 235]/255)."""
  return (x @ jnp.asarray(_YCBCR_M.T) + jnp.asarray(_YCBCR_OFFSET)) / 255.0


def ycbcr_to_rgb(x: jax.Array) -> jax.Array:
  """Inverse of `rgb_to_ycbcr` (MATLAB `ycbcr2rgb`, not clipped)."""
  inv = np.linalg.inv(_YCBCR_M).astype(np.float32)
  return (x * 255.0 - jnp.asarray(_YCBCR_OFFSET)) @ jnp.asarray(inv.T)


def _conv_padded(x, features, k, padding, name, dtype=jnp.float32):
  """A k x k conv keeping the size with 'replicate' (edge) or 'zero' padding."""
  if padding == "replicate":
    lo, hi = (k - 1) // 2, k // 2
    x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode="edge")
    return Conv(features, (k, k), padding="VALID", dtype=dtype, name=name)(x)
  if padding == "zero":
    return Conv(features, (k, k), padding="SAME", dtype=dtype, name=name)(x)
  raise ValueError(f"srcnn: padding must be 'replicate' or 'zero', got {padding!r}.")


@register("srcnn")
class SRCNN(nn.Module):
  """SRCNN (Dong et al., 2014/2016): x NHWC in [0, 1], already bicubic-upsampled -> same size.

  Attributes:
    kernel_sizes: the three conv kernel sides, (9, 5, 5), (9, 3, 5) or (9, 1, 5).
    features: widths of conv1 and conv2 (64, 32).
    padding: 'replicate' (official `imfilter(..., 'replicate')`) or 'zero'.
    normalization: after conv1 and conv2 ('none' in the paper).
    color: 'y' = the net sees only the luma: a 3-channel input is converted with
      MATLAB `rgb2ycbcr`, Y is restored and Cb/Cr are kept from the input, the
      result is converted back to RGB; a 1-channel input is taken as Y.
      'all' = the net maps all C channels to C channels.
  """
  kernel_sizes: Sequence[int] = (9, 5, 5)
  features: Sequence[int] = (64, 32)
  padding: str = "replicate"
  activation: str = "relu"
  normalization: str = "none"
  color: str = "y"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    c = x.shape[-1]
    act = lambda h: layers.activation(self.activation)(layers.normalization(self.normalization,
                                                                             train)(h))
    k1, k2, k3 = self.kernel_sizes
    if self.color == "y" and c == 3:
      ycc = rgb_to_ycbcr(x)
      y = ycc[..., :1]
    elif self.color == "y" and c == 1 or self.color == "all":
      y = x
    else:
      raise ValueError(f"srcnn: color must be 'y' or 'all' (got {self.color!r}) "
                       f"and the input 1 or 3 channels (got {c}).")
    h = act(_conv_padded(y, self.features[0], k1, self.padding, "conv1", self.dtype))
    h = act(_conv_padded(h, self.features[1], k2, self.padding, "conv2", self.dtype))
    out = _conv_padded(h, y.shape[-1], k3, self.padding, "conv3", self.dtype).astype(jnp.float32)
    if self.color == "y" and c == 3:
      return ycbcr_to_rgb(jnp.concatenate([out, ycc[..., 1:]], axis=-1))
    return out


class _ResBlock(nn.Module):
  features: int
  normalization: str
  activation: str
  res_scale: float
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    h = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype)(x)
    h = layers.activation(self.activation)(layers.normalization(self.normalization, train)(h))
    h = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype)(h)
    h = layers.normalization(self.normalization, train)(h)
    return x + self.res_scale * h


@register("subpixel_sr")
class SubPixelSR(nn.Module):
  """ESPCN/EDSR-style SR on the LR image: x (N, h, w, C) in [0, 1] -> (N, r*h, r*w, C).

  conv head -> `num_blocks` residual blocks (conv, act, conv) -> conv + head skip
  -> conv to C*r^2 channels -> `layers.pixel_shuffle`. With `upsample_skip`
  the bilinear upsampled input is added, so the net learns a residual.
  `num_blocks=0, features=64` with tanh gives an ESPCN-like net.
  """
  scale: int = 2
  features: int = 64
  num_blocks: int = 8
  normalization: str = "none"
  activation: str = "relu"
  res_scale: float = 1.0
  out_channels: int | None = None
  upsample_skip: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    n, h, w, c = x.shape
    out_ch = self.out_channels or c
    r = self.scale
    head = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype, name="head")(x)
    body = head
    for i in range(self.num_blocks):
      body = _ResBlock(self.features, self.normalization, self.activation, self.res_scale,
                       self.dtype, name=f"block{i}")(body, train)
    if self.num_blocks:
      body = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype,
                  name="body_out")(body) + head
    else:
      body = layers.activation(self.activation)(body)
    up = Conv(out_ch * r * r, (3, 3), padding="SAME", dtype=self.dtype, name="to_subpixel")(body)
    out = layers.pixel_shuffle(up.astype(jnp.float32), r)
    if self.upsample_skip:
      if out_ch != c:
        raise ValueError(f"subpixel_sr: upsample_skip needs out_channels == input channels "
                         f"({out_ch} != {c}).")
      out = out + jax.image.resize(x, (n, h * r, w * r, c), method="bilinear")
    return out
