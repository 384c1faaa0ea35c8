"""FFDNet (Zhang et al., TIP 2018): denoising on 2x2 sub-images with a noise-level map.

SubP(down 2) in MATLAB order -> append the σ/255 plane as the LAST channel ->
conv stack -> SubP(up 2); the output is the clean image (not a residual).
Gray: 15 layers 5->64...64->4; color: 12 layers 13->96...96->12.
"""
from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


def matlab_unshuffle(x: jax.Array) -> jax.Array:
  """(N, H, W, C) -> (N, H/2, W/2, 4C); channel 4c+i takes pixel offset (row i%2, col i//2).

  This is MatConvNet FFDNet's `vl_nnSubP` (scale 0.5) order, not PyTorch's.
  """
  n, h, w, c = x.shape
  x = x.reshape(n, h // 2, 2, w // 2, 2, c)          # (n, h, a=row off, w, b=col off, c)
  x = x.transpose(0, 1, 3, 5, 4, 2)                  # (n, h, w, c, b, a): index = 4c + 2b + a
  return x.reshape(n, h // 2, w // 2, 4 * c)


def matlab_shuffle(x: jax.Array) -> jax.Array:
  """Inverse of `matlab_unshuffle`: (N, h, w, 4C) -> (N, 2h, 2w, C)."""
  n, h, w, c4 = x.shape
  c = c4 // 4
  x = x.reshape(n, h, w, c, 2, 2)                    # (n, h, w, c, b, a)
  x = x.transpose(0, 1, 5, 2, 4, 3)                  # (n, h, a, w, b, c)
  return x.reshape(n, 2 * h, 2 * w, c)


@register("ffdnet")
class FFDNet(nn.Module):
  """x: NHWC float32 in [0, 1] (noisy), noise_level: [N] (or scalar) σ/255 -> NHWC clean.

  Attributes:
    depth: conv layers (None: 15 for 1 channel, 12 otherwise).
    features: hidden width (None: 64 for 1 channel, 96 otherwise).
    normalization: of the middle layers ('none' in the released, BN-folded models).
    activation: `layers.activation` name.
    use_bias: conv biases.
    dtype: compute dtype of the convs (output float32).
  Odd H/W are handled by replicating the last row/column, then cropping.
  """
  extra_inputs: ClassVar[tuple[str, ...]] = ("noise_level",)
  depth: int | None = None
  features: int | None = None
  kernel_size: int = 3
  normalization: str = "none"
  activation: str = "relu"
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, noise_level=None, **extra) -> jax.Array:
    del extra
    if noise_level is None:
      raise ValueError("ffdnet: needs `noise_level` (σ/255, shape [N]); use a degradation "
                       "such as gaussian_noise that adds it to the batch.")
    n, h, w, c = x.shape
    depth = self.depth or (15 if c == 1 else 12)
    features = self.features or (64 if c == 1 else 96)
    act = layers.activation(self.activation)
    k = (self.kernel_size, self.kernel_size)
    ph, pw = h % 2, w % 2
    if ph or pw:
      x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    sub = matlab_unshuffle(x)
    sigma = jnp.broadcast_to(jnp.asarray(noise_level, x.dtype).reshape(-1), (n,))
    sigma_map = jnp.broadcast_to(sigma[:, None, None, None], sub.shape[:3] + (1,))
    hdn = jnp.concatenate([sub, sigma_map], axis=-1)
    conv = lambda f, name: Conv(f, k, padding="SAME", use_bias=self.use_bias, dtype=self.dtype,
                                name=name)
    hdn = act(conv(features, "conv0")(hdn))
    for i in range(1, depth - 1):
      hdn = conv(features, f"conv{i}")(hdn)
      hdn = layers.normalization(self.normalization, train, activation=self.activation)(hdn)
    hdn = conv(4 * c, f"conv{depth - 1}")(hdn).astype(jnp.float32)
    return matlab_shuffle(hdn)[:, :h, :w, :]
