"""MATLAB `imresize(..., 'bicubic')` (antialiased) as a separable, jittable JAX op.

The weights and source indices of each axis are computed in numpy at trace time
(they depend only on the static shapes and the scale) exactly as MATLAB does:

  * cubic kernel with a = -0.5 (Keys), support [-2, 2];
  * when shrinking (scale < 1) the kernel is widened by 1/scale and scaled by
    `scale` (antialiasing), so it covers 4/scale input pixels;
  * output pixel x (1-based) maps to u = x/scale + 0.5 * (1 - 1/scale);
    taps are floor(u - width/2) + 0 .. ceil(width) + 1, weights are normalised to
    sum to 1, out-of-range taps are mirrored (symmetric, edge pixel repeated)
    and all-zero tap columns are dropped;
  * axes are resized in order of increasing scale (rows first for equal scales).

With a scale factor the output side is ceil(in * scale) and the weights use the
given scale (as MATLAB does); with an output shape the scale is out / in.

`imresize` works on NHWC (or HWC) JAX arrays and applies the taps with a gather
and a weighted sum, so its cost is O(taps) per output pixel. `imresize_np` is
the float64 numpy twin; with `round_uint8=True` it also reproduces MATLAB's
rounding of uint8 images after each axis.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
  """Keys' cubic convolution kernel with parameter `a` (MATLAB uses a = -0.5)."""
  ax = np.abs(x)
  ax2, ax3 = ax ** 2, ax ** 3
  return (((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
          + (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2)))


BOUNDARIES = ("symmetric", "replicate")


@functools.lru_cache(maxsize=256)
def contributions(in_length: int, out_length: int, scale: float, antialias: bool = True,
                  boundary: str = "symmetric") -> tuple[np.ndarray, np.ndarray]:
  """Per-output taps of one axis: (weights [out, P] float64, indices [out, P] int, 0-based).

  `boundary`: 'symmetric' mirrors out-of-range taps (MATLAB since R2013-ish);
  'replicate' clamps them (older MATLAB; it reproduces the classic SR benchmark
  LR images, e.g. SelfExSR's Set5, exactly).
  """
  if boundary not in BOUNDARIES:
    raise ValueError(f"imresize: boundary must be one of {BOUNDARIES}, got {boundary!r}.")
  if in_length < 1 or out_length < 1:
    raise ValueError(f"imresize: cannot resize length {in_length} to {out_length}.")
  width = 4.0
  kernel = cubic
  if scale < 1 and antialias:
    width = 4.0 / scale
    kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
  x = np.arange(1, out_length + 1, dtype=np.float64)
  u = x / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(u - width / 2)
  taps = int(math.ceil(width)) + 2
  idx = left[:, None] + np.arange(taps)[None, :]          # 1-based
  weights = kernel(u[:, None] - idx)
  weights = weights / weights.sum(axis=1, keepdims=True)
  idx = idx.astype(np.int64) - 1
  if boundary == "symmetric":  # mirror with edge repeat, as MATLAB's `aux` table
    aux = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    idx = aux[np.mod(idx, aux.size)]
  else:
    idx = np.clip(idx, 0, in_length - 1)
  keep = np.any(weights != 0, axis=0)
  return weights[:, keep], idx[:, keep]


def _plan(in_hw: Sequence[int], scale, output_shape) -> list[tuple[int, int, int, float]]:
  """[(axis (0 = H, 1 = W), in_len, out_len, scale)] in MATLAB's axis order."""
  if (scale is None) == (output_shape is None):
    raise ValueError("imresize: give exactly one of `scale` and `output_shape`.")
  if output_shape is not None:
    out_hw = [int(s) for s in output_shape]
    scales = [o / i for o, i in zip(out_hw, in_hw)]
  else:
    scales = [float(s) for s in (scale if isinstance(scale, (tuple, list)) else (scale, scale))]
    if min(scales) <= 0:
      raise ValueError(f"imresize: scale must be positive, got {scale}.")
    # MATLAB: ceil(in * scale); guard against float noise like 3 * (1/3).
    out_hw = [int(math.ceil(round(i * s, 9))) for i, s in zip(in_hw, scales)]
  order = sorted(range(2), key=lambda a: scales[a])  # stable: rows first on ties
  return [(a, int(in_hw[a]), out_hw[a], scales[a]) for a in order]


def output_size(in_hw: Sequence[int], scale) -> tuple[int, int]:
  """(H, W) that `imresize(x, scale)` produces for an input of size `in_hw`."""
  out = {a: o for a, _, o, _ in _plan(in_hw, scale, None)}
  return out[0], out[1]


def imresize(x: jax.Array, scale=None, output_shape: Sequence[int] | None = None,
             antialias: bool = True, boundary: str = "symmetric",
             round_intermediate: bool = False) -> jax.Array:
  """MATLAB-compatible bicubic resize of NHWC (or HWC) images, jittable.

  Args:
    x: [N, H, W, C] or [H, W, C] float array (any range; no clipping, no rounding).
    scale: a factor (e.g. 1/4, 3, 0.7) or (scale_h, scale_w).
    output_shape: (H_out, W_out) instead of `scale`.
    antialias: widen the kernel when shrinking (MATLAB default True).
    boundary: 'symmetric' (current MATLAB) or 'replicate' (older MATLAB, the
      classic SR benchmark LR images); see `contributions`.
    round_intermediate: round to multiples of 1/255 after the first axis, as
      MATLAB does for uint8 images (use with inputs in [0, 1] from uint8 data).

  Returns:
    [N, H_out, W_out, C] (or [H_out, W_out, C]) in the dtype of `x` (float32 for ints).
  """
  x = jnp.asarray(x)
  squeeze = x.ndim == 3
  if squeeze:
    x = x[None]
  if x.ndim != 4:
    raise ValueError(f"imresize: expected NHWC or HWC, got shape {x.shape}.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  plan = [p for p in _plan(x.shape[1:3], scale, output_shape) if not (p[1] == p[2] and p[3] == 1)]
  for i, (axis, n_in, n_out, s) in enumerate(plan):
    if i and round_intermediate:
      x = jnp.clip(jnp.round(x * 255.0), 0.0, 255.0) / 255.0
    w, idx = contributions(n_in, n_out, s, antialias, boundary)
    w = jnp.asarray(w, x.dtype)
    gathered = jnp.take(x, jnp.asarray(idx.reshape(-1)), axis=axis + 1)
    if axis == 0:   # [N, out*P, W, C]
      gathered = gathered.reshape(x.shape[0], n_out, idx.shape[1], *x.shape[2:])
      x = jnp.einsum("nopwc,op->nowc", gathered, w)
    else:           # [N, H, out*P, C]
      gathered = gathered.reshape(x.shape[0], x.shape[1], n_out, idx.shape[1], x.shape[3])
      x = jnp.einsum("nhopc,op->nhoc", gathered, w)
  return x[0] if squeeze else x


def imresize_np(x: np.ndarray, scale=None, output_shape: Sequence[int] | None = None,
                antialias: bool = True, boundary: str = "symmetric",
                round_uint8: bool | None = None) -> np.ndarray:
  """Numpy float64 version of `imresize` for HWC / NHWC arrays.

  A uint8 input gives a uint8 output; by default (like MATLAB) it is rounded
  to uint8 after each axis (`round_uint8`). Float inputs stay float64.
  """
  x = np.asarray(x)
  is_u8 = x.dtype == np.uint8
  if round_uint8 is None:
    round_uint8 = is_u8
  squeeze = x.ndim == 3
  y = x[None].astype(np.float64) if squeeze else x.astype(np.float64)
  for axis, n_in, n_out, s in _plan(y.shape[1:3], scale, output_shape):
    if n_in == n_out and s == 1:
      continue
    w, idx = contributions(n_in, n_out, s, antialias, boundary)
    g = np.take(y, idx, axis=axis + 1)  # axis -> (out, P)
    y = np.einsum("nopwc,op->nowc" if axis == 0 else "nhopc,op->nhoc", g, w)
    if round_uint8:
      y = np.clip(_round_half_away(y), 0, 255)
  if is_u8:
    y = np.clip(_round_half_away(y), 0, 255).astype(np.uint8)
  return y[0] if squeeze else y


def _round_half_away(y: np.ndarray) -> np.ndarray:
  """MATLAB `round`: halves go away from zero."""
  return np.sign(y) * np.floor(np.abs(y) + 0.5)
