"""Pixel-domain visual information fidelity (VIFp, Sheikh & Bovik, TIP 2006).

Follows the authors' `vifp_mscale.m`: 4 scales; at scale s = 1..4 a Gaussian
window of size N = 2^(4-s+1)+1 with sigma N/5 (MATLAB `fspecial`); for s > 1 the
images are first filtered with that window ('valid') and subsampled by 2; local
means, variances and covariance come from 'valid' filtering; sigma_nsq = 2 on a
0-255 gray scale; VIFp = sum_s num_s / sum_s den_s with

  num = sum log10(1 + g^2 sigma_ref^2 / (sigma_v^2 + sigma_nsq))
  den = sum log10(1 + sigma_ref^2 / sigma_nsq).

Everything is pure, jittable JAX over NHWC batches.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.data import color as _color

SIGMA_NSQ = 2.0
EPS = 1e-10
NUM_SCALES = 4


def gaussian_window_1d(size: int, sigma: float) -> np.ndarray:
  """Normalised 1-D Gaussian; its outer product is MATLAB fspecial('gaussian')."""
  r = (size - 1) / 2.0
  x = np.arange(size) - r
  g = np.exp(-x * x / (2.0 * sigma * sigma))
  return g / g.sum()


def window_size(scale: int) -> int:
  """Window size at scale 1..4: 17, 9, 5, 3."""
  return 2 ** (NUM_SCALES - scale + 1) + 1


def min_image_size() -> int:
  """Smallest height/width for which all 4 scales have at least one 'valid' pixel."""
  size = 1
  for s in range(NUM_SCALES, 0, -1):
    n = window_size(s)
    size = max(size, n)  # the statistics filter needs one 'valid' pixel
    if s > 1:
      size = 2 * size - 1 + window_size(s) - 1  # subsample, then the pre-filter
  return size


def to_gray_255(images: jax.Array, color: str = "gray", data_range: float = 1.0) -> jax.Array:
  """NHWC (C in {1, 3}) in [0, data_range] -> NHW on a 0-255 scale.

  `color`: 'gray' (BT.601 luma 0.299/0.587/0.114) or 'y' (MATLAB rgb2ycbcr Y,
  16-235); ignored for 1-channel input.
  """
  x = jnp.asarray(images)
  if x.ndim != 4:
    raise ValueError(f"vifp: expected NHWC images, got shape {x.shape}.")
  x = x * (255.0 / data_range)
  c = x.shape[-1]
  if c == 1:
    return x[..., 0]
  if c != 3:
    raise ValueError(f"vifp: expected 1 or 3 channels, got {c}.")
  if color == "gray":
    return _color.rgb_to_gray(x)[..., 0]
  if color == "y":
    return 255.0 * _color.rgb_to_y(x / 255.0)[..., 0]
  raise ValueError(f"vifp: unknown color {color!r}; use 'gray' or 'y'.")


def _filter_valid(x: jax.Array, g: np.ndarray) -> jax.Array:
  """Separable 'valid' correlation of (B, H, W) with the outer product g g^T."""
  k = jnp.asarray(g, x.dtype)
  n = g.shape[0]
  y = x[:, :, :, None]
  dn = ("NHWC", "HWIO", "NHWC")
  y = jax.lax.conv_general_dilated(y, k.reshape(n, 1, 1, 1), (1, 1), "VALID",
                                   dimension_numbers=dn,
                                   precision=jax.lax.Precision.HIGHEST)
  y = jax.lax.conv_general_dilated(y, k.reshape(1, n, 1, 1), (1, 1), "VALID",
                                   dimension_numbers=dn,
                                   precision=jax.lax.Precision.HIGHEST)
  return y[..., 0]


def _scale_terms(ref: jax.Array, dist: jax.Array, g: np.ndarray,
                 sigma_nsq: float) -> tuple[jax.Array, jax.Array]:
  """Per-image (num, den) at one scale; ref/dist (B, H, W) on 0-255."""
  f = lambda a: _filter_valid(a, g)
  mu1, mu2 = f(ref), f(dist)
  sigma1_sq = f(ref * ref) - mu1 * mu1
  sigma2_sq = f(dist * dist) - mu2 * mu2
  sigma12 = f(ref * dist) - mu1 * mu2
  sigma1_sq = jnp.maximum(sigma1_sq, 0.0)
  sigma2_sq = jnp.maximum(sigma2_sq, 0.0)

  g_ = sigma12 / (sigma1_sq + EPS)
  sv_sq = sigma2_sq - g_ * sigma12
  small1 = sigma1_sq < EPS
  g_ = jnp.where(small1, 0.0, g_)
  sv_sq = jnp.where(small1, sigma2_sq, sv_sq)
  sigma1_sq = jnp.where(small1, 0.0, sigma1_sq)
  small2 = sigma2_sq < EPS
  g_ = jnp.where(small2, 0.0, g_)
  sv_sq = jnp.where(small2, 0.0, sv_sq)
  neg = g_ < 0
  sv_sq = jnp.where(neg, sigma2_sq, sv_sq)
  g_ = jnp.maximum(g_, 0.0)
  sv_sq = jnp.maximum(sv_sq, EPS)

  num = jnp.sum(jnp.log10(1.0 + g_ * g_ * sigma1_sq / (sv_sq + sigma_nsq)), axis=(1, 2))
  den = jnp.sum(jnp.log10(1.0 + sigma1_sq / sigma_nsq), axis=(1, 2))
  return num, den


def vifp_gray(ref: jax.Array, dist: jax.Array, sigma_nsq: float = SIGMA_NSQ) -> jax.Array:
  """VIFp of gray images (N, H, W) on a 0-255 scale -> (N,).

  Each image is centred by its own mean first (variances and covariances are
  unchanged) so float32 loses less precision in E[x^2] - E[x]^2. A reference
  with no variance anywhere gives nan (0/0), as in the MATLAB code.
  """
  ref = jnp.asarray(ref)
  dist = jnp.asarray(dist)
  if ref.shape != dist.shape:
    raise ValueError(f"vifp: shapes differ: {ref.shape} vs {dist.shape}.")
  lo = min(ref.shape[1:])
  if lo < min_image_size():
    raise ValueError(f"vifp: images of {ref.shape[1]}x{ref.shape[2]} are too small; "
                     f"need at least {min_image_size()} pixels per side.")
  ref = ref - jnp.mean(ref, axis=(1, 2), keepdims=True)
  dist = dist - jnp.mean(dist, axis=(1, 2), keepdims=True)
  num = jnp.zeros(ref.shape[:1], ref.dtype)
  den = jnp.zeros(ref.shape[:1], ref.dtype)
  for s in range(1, NUM_SCALES + 1):
    n = window_size(s)
    g = gaussian_window_1d(n, n / 5.0)
    if s > 1:
      ref = _filter_valid(ref, g)[:, ::2, ::2]
      dist = _filter_valid(dist, g)[:, ::2, ::2]
    a, b = _scale_terms(ref, dist, g, sigma_nsq)
    num, den = num + a, den + b
  return num / den


@functools.partial(jax.jit, static_argnames=("color", "data_range", "sigma_nsq"))
def vifp(reference: jax.Array, distorted: jax.Array, color: str = "gray",
         data_range: float = 1.0, sigma_nsq: float = SIGMA_NSQ) -> jax.Array:
  """VIFp between NHWC batches -> (N,) float, 1 for identical images.

  Args:
    reference: (N, H, W, C) in [0, data_range], C in {1, 3}; the reference image.
    distorted: same shape; the test image (VIF is not symmetric).
    color: RGB -> gray conversion, 'gray' (BT.601 luma) or 'y' (MATLAB Y, 16-235).
    data_range: 1.0 for [0, 1] floats, 255.0 for 0-255 values.
    sigma_nsq: visual-noise variance on the 0-255 scale (2 in the paper).
  """
  ref = to_gray_255(reference, color, data_range)
  dist = to_gray_255(distorted, color, data_range)
  return vifp_gray(ref, dist, sigma_nsq)
