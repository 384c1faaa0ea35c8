"""Colour conversions for RGB images in [0, 1]: YCbCr (MATLAB), CIE Lab, gray.

The one home of these conversions: models, metrics, degradations and image I/O
call the functions here rather than carry their own weights.

Every function works on numpy or JAX arrays of shape [..., 3] (or [..., 1] for
gray) and returns the same array type (so it is jittable on JAX inputs).
Float inputs are in [0, 1]; the `*_uint8` helpers reproduce MATLAB on uint8.
"""
from __future__ import annotations

import sys

import numpy as np

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing): [Y Cb Cr] = OFFSET + M @ [R G B],
# RGB in [0, 1], YCbCr in [0, 255] before dividing by 255.
YCBCR_MATRIX = np.array([[65.481, 128.553, 24.966],
                         [-37.797, -74.203, 112.0],
                         [112.0, -93.786, -18.214]])
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
LUMA_BT601 = np.array([0.299, 0.587, 0.114])

# sRGB (D65) -> XYZ and the D65 white point.
_RGB2XYZ = np.array([[0.412453, 0.357580, 0.180423],
                     [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]])
_D65 = np.array([0.950456, 1.0, 1.088754])


def _xp(x):
  """The array module of `x`: jax.numpy for JAX arrays / tracers, else numpy.

  A JAX array exists only once JAX is imported, so host-side code (image I/O)
  uses this module without importing JAX.
  """
  jax = sys.modules.get("jax")
  if jax is not None and isinstance(x, jax.Array):
    return jax.numpy
  return np


def _matmul(x, m, xp):
  return xp.einsum("...c,dc->...d", x, xp.asarray(m, dtype=x.dtype))


def _float(x, xp):
  x = xp.asarray(x)
  if not xp.issubdtype(x.dtype, xp.floating):
    x = x.astype(xp.float32)
  return x


def rgb_to_ycbcr(rgb):
  """MATLAB `rgb2ycbcr` on float RGB [..., 3] in [0, 1] -> YCbCr [..., 3] in [0, 1].

  Y is in [16, 235] / 255 and Cb, Cr in [16, 240] / 255 (studio swing).
  """
  xp = _xp(rgb)
  rgb = _float(rgb, xp)
  return _matmul(rgb, YCBCR_MATRIX / 255.0, xp) + xp.asarray(YCBCR_OFFSET / 255.0, rgb.dtype)


def ycbcr_to_rgb(ycbcr):
  """MATLAB `ycbcr2rgb`: the inverse of `rgb_to_ycbcr` (no clipping)."""
  xp = _xp(ycbcr)
  ycbcr = _float(ycbcr, xp)
  inv = np.linalg.inv(YCBCR_MATRIX / 255.0)
  return _matmul(ycbcr - xp.asarray(YCBCR_OFFSET / 255.0, ycbcr.dtype), inv, xp)


def rgb_to_y(rgb):
  """The Y channel of `rgb_to_ycbcr`, shape [..., 1], in [16/255, 235/255].

  Computed as (16 + 65.481 R + 128.553 G + 24.966 B) / 255 (equal to Y of
  `rgb_to_ycbcr` to float rounding): the PSNR/SSIM-on-Y protocols of
  `metrics.image_quality` round this value, so its arithmetic stays as it is.
  """
  xp = _xp(rgb)
  rgb = _float(rgb, xp)
  y = (16.0 + xp.tensordot(rgb, xp.asarray(YCBCR_MATRIX[0], rgb.dtype), axes=[[-1], [0]])) / 255.0
  return y[..., None]


def rgb_to_ycbcr_uint8(rgb: np.ndarray) -> np.ndarray:
  """MATLAB `rgb2ycbcr` on a uint8 image: uint8 YCbCr (rounded half away from 0)."""
  rgb = np.asarray(rgb)
  if rgb.dtype != np.uint8:
    raise TypeError(f"rgb_to_ycbcr_uint8: expected uint8, got {rgb.dtype}.")
  y = rgb_to_ycbcr(rgb.astype(np.float64) / 255.0) * 255.0
  return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


def rgb_to_gray(rgb, channels: int = 1):
  """BT.601 luma Y' = 0.299 R + 0.587 G + 0.114 B (full swing), [..., channels].

  `channels=3` repeats the luma (a gray image in an RGB tensor). A 1-channel
  input is returned as is (or repeated).
  """
  xp = _xp(rgb)
  rgb = _float(rgb, xp)
  y = rgb if rgb.shape[-1] == 1 else (rgb @ xp.asarray(LUMA_BT601, rgb.dtype))[..., None]
  if channels == 3:
    y = xp.concatenate([y, y, y], axis=-1)
  elif channels != 1:
    raise ValueError(f"rgb_to_gray: channels must be 1 or 3, got {channels}.")
  return y


def _srgb_to_linear(c, xp):
  return xp.where(c > 0.04045, ((xp.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c, xp):
  return xp.where(c > 0.0031308, 1.055 * xp.maximum(c, 0.0031308) ** (1 / 2.4) - 0.055,
                  12.92 * c)


def rgb_to_lab(rgb):
  """sRGB [..., 3] in [0, 1] (D65) -> CIE L*a*b*: L in [0, 100], a, b about [-128, 127]."""
  xp = _xp(rgb)
  rgb = _float(rgb, xp)
  xyz = _matmul(_srgb_to_linear(rgb, xp), _RGB2XYZ, xp) / xp.asarray(_D65, rgb.dtype)
  eps = (6 / 29) ** 3
  f = xp.where(xyz > eps, xp.cbrt(xp.maximum(xyz, eps)), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
  fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
  lab = [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)]
  return xp.stack(lab, axis=-1)


def lab_to_rgb(lab):
  """CIE L*a*b* (D65) -> sRGB [..., 3] (not clipped; out-of-gamut values leave [0, 1])."""
  xp = _xp(lab)
  lab = _float(lab, xp)
  fy = (lab[..., 0] + 16) / 116
  f = xp.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
  delta = 6 / 29
  xyz = xp.where(f > delta, f ** 3, 3 * delta ** 2 * (f - 4 / 29)) * xp.asarray(_D65, lab.dtype)
  lin = _matmul(xyz, np.linalg.inv(_RGB2XYZ), xp)
  return _linear_to_srgb(lin, xp)


def normalize_lab(lab):
  """Lab -> roughly [0, 1]: (L / 100, (a + 128) / 255, (b + 128) / 255)."""
  xp = _xp(lab)
  return (lab + xp.asarray([0.0, 128.0, 128.0], lab.dtype)) / xp.asarray([100.0, 255.0, 255.0],
                                                                            lab.dtype)


def denormalize_lab(x):
  """Inverse of `normalize_lab`."""
  xp = _xp(x)
  return x * xp.asarray([100.0, 255.0, 255.0], x.dtype) - xp.asarray([0.0, 128.0, 128.0], x.dtype)
