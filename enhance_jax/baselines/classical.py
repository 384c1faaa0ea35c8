"""Classical enhancement and restoration methods, registered in `BASELINES`.

Every function takes one image, an HWC float32 numpy array in [0, 1] with C in
{1, 3}, plus keyword parameters, and returns an HWC float32 array in [0, 1]
(same size unless the method resizes). Point operations (negative, gamma,
contrast stretch, intensity/bit-plane slicing, log) run as jitted JAX; the rest
call scipy / scikit-image (core dependencies) or OpenCV, PyWavelets and bm3d
(the optional extra `pip install 'enhance_jax[baselines]'`).

Colour handling: methods that change intensities (hist_eq, clahe, the low-light
ones) work on one luminance-like channel so hue is kept: 'v' (HSV value; the
RGB vector is scaled by V'/V, which is what an HSV round trip does) or 'l'
(CIE L*). 'rgb' applies the method to each channel.
"""
from __future__ import annotations

import importlib
import io
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage

from enhance_jax.baselines.registry import BASELINES

EXTRA_HINT = "pip install 'enhance_jax[baselines]'"


def _require(module: str, pip_name: str, method: str):
  """Imports an optional library or raises ImportError naming the pip extra."""
  try:
    return importlib.import_module(module)
  except ImportError:
    raise ImportError(f"baseline {method!r} needs {pip_name}: {EXTRA_HINT} "
                      f"(or pip install {pip_name}).") from None


def _check(image, method: str) -> np.ndarray:
  """HWC float32 view of `image`; raises ValueError for other shapes."""
  x = np.asarray(image, dtype=np.float32)
  if x.ndim != 3 or x.shape[-1] not in (1, 3):
    raise ValueError(f"baseline {method!r}: expected an HWC image with 1 or 3 channels, "
                     f"got shape {x.shape}.")
  return x


def _out(x) -> np.ndarray:
  return np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


# ----------------------------------------------------------- luminance ----

def _on_channel(x: np.ndarray, fn, channel: str) -> np.ndarray:
  """Applies `fn` (HW float in [0, 1] -> HW in [0, 1]) to gray, V, L or each RGB channel."""
  if x.shape[-1] == 1 or channel == "rgb":
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)
  if channel == "v":
    v = x.max(axis=-1)
    v_new = np.asarray(fn(v), np.float32)
    ratio = np.where(v > 0, v_new / np.maximum(v, 1e-12), 0.0)
    # A black pixel has no hue: it becomes gray at the new value.
    return np.where((v > 0)[..., None], x * ratio[..., None], v_new[..., None])
  if channel == "l":
    from skimage import color
    lab = color.rgb2lab(x.astype(np.float64))
    lab[..., 0] = 100.0 * np.clip(fn(lab[..., 0] / 100.0), 0.0, 1.0)
    return color.lab2rgb(lab)
  raise ValueError(f"unknown channel {channel!r}; use 'v', 'l' or 'rgb'.")


# -------------------------------------------------- point operations (JAX) ----

@jax.jit
def _negative(x):
  return 1.0 - x


@jax.jit
def _gamma(x, gamma, gain):
  return jnp.clip(gain * jnp.power(jnp.clip(x, 0.0, 1.0), gamma), 0.0, 1.0)


@jax.jit
def _log(x, c):
  return jnp.clip(c * jnp.log1p(x) / jnp.log(2.0), 0.0, 1.0)


@jax.jit
def _stretch(x, lo, hi):
  return jnp.clip((x - lo) / jnp.maximum(hi - lo, 1e-12), 0.0, 1.0)


@jax.jit
def _slice(x, low, high, value, background):
  inside = (x >= low) & (x <= high)
  return jnp.where(inside, value, jnp.where(jnp.isnan(background), x, background))


@jax.jit
def _bit_plane(x, plane):
  q = jnp.round(jnp.clip(x, 0.0, 1.0) * 255.0).astype(jnp.uint8)
  return (jnp.right_shift(q, plane.astype(jnp.uint8)) & 1).astype(jnp.float32)


@BASELINES.register("negative")
def negative(image: np.ndarray) -> np.ndarray:
  """s = 1 - r (the image negative)."""
  return _out(_negative(_check(image, "negative")))


@BASELINES.register("gamma")
def gamma(image: np.ndarray, gamma: float = 1.0, gain: float = 1.0) -> np.ndarray:
  """Power law s = gain * r^gamma (gamma < 1 brightens, > 1 darkens), clipped to [0, 1]."""
  if gamma <= 0:
    raise ValueError(f"baseline 'gamma': gamma must be > 0, got {gamma}.")
  x = _check(image, "gamma")
  if gamma == 1.0 and gain == 1.0:
    return _out(x)
  return _out(_gamma(x, jnp.float32(gamma), jnp.float32(gain)))


@BASELINES.register("log_transform")
def log_transform(image: np.ndarray, c: float = 1.0) -> np.ndarray:
  """s = c * log2(1 + r): maps [0, 1] onto [0, c], expanding dark values."""
  return _out(_log(_check(image, "log_transform"), jnp.float32(c)))


@BASELINES.register("contrast_stretch")
def contrast_stretch(image: np.ndarray, low: float = 2.0, high: float = 98.0,
                     per_channel: bool = False) -> np.ndarray:
  """Linear stretch of the [low, high] percentiles (0-100) onto [0, 1], clipped.

  `per_channel` stretches each channel with its own percentiles (shifts colour);
  by default one pair of percentiles over all channels keeps the colour balance.
  """
  if not 0 <= low < high <= 100:
    raise ValueError(f"baseline 'contrast_stretch': need 0 <= low < high <= 100, "
                     f"got {low}, {high}.")
  x = jnp.asarray(_check(image, "contrast_stretch"))
  axis = (0, 1) if per_channel else None
  lo = jnp.percentile(x, low, axis=axis)
  hi = jnp.percentile(x, high, axis=axis)
  return _out(_stretch(x, lo, hi))


@BASELINES.register("intensity_slicing")
def intensity_slicing(image: np.ndarray, low: float = 0.4, high: float = 0.7,
                      value: float = 1.0, background: float | None = None) -> np.ndarray:
  """Gray-level slicing (Gonzalez & Woods 3.2.4): r in [low, high] -> `value`.

  Other intensities keep their value when `background` is None, else become
  `background` (a binary image for value=1, background=0). Per channel for RGB.
  """
  x = _check(image, "intensity_slicing")
  bg = jnp.float32(np.nan if background is None else background)
  return _out(_slice(x, jnp.float32(low), jnp.float32(high), jnp.float32(value), bg))


@BASELINES.register("bit_plane")
def bit_plane(image: np.ndarray, plane: int = 7) -> np.ndarray:
  """Bit plane `plane` (0 = least, 7 = most significant) of the 8-bit image, as {0, 1}."""
  if not 0 <= int(plane) <= 7:
    raise ValueError(f"baseline 'bit_plane': plane must be in 0..7, got {plane}.")
  return _out(_bit_plane(_check(image, "bit_plane"), jnp.int32(plane)))


# ------------------------------------------------------------- histograms ----

def equalize_channel(x: np.ndarray, nbins: int = 256) -> np.ndarray:
  """Global histogram equalisation of an HW channel in [0, 1] (Gonzalez & Woods):
  r quantised to `nbins` levels k, s_k = CDF(k), so the output histogram is as flat
  as the discrete levels allow."""
  q = np.round(np.clip(x, 0.0, 1.0) * (nbins - 1)).astype(np.int64)
  hist = np.bincount(q.ravel(), minlength=nbins).astype(np.float64)
  cdf = np.cumsum(hist) / q.size
  lut = np.round(cdf * (nbins - 1)) / (nbins - 1)
  return lut[q].astype(np.float32)


@BASELINES.register("hist_eq")
def hist_eq(image: np.ndarray, nbins: int = 256, channel: str = "v") -> np.ndarray:
  """Global histogram equalisation; colour on `channel` 'v' (HSV value), 'l' (L*) or 'rgb'."""
  x = _check(image, "hist_eq")
  return _out(_on_channel(x, lambda c: equalize_channel(c, nbins), channel))


@BASELINES.register("clahe")
def clahe(image: np.ndarray, clip_limit: float = 0.01, tiles: int = 8, nbins: int = 256,
          channel: str = "l") -> np.ndarray:
  """Contrast-limited adaptive histogram equalisation (skimage `equalize_adapthist`).

  `tiles` x `tiles` contextual regions; `clip_limit` in (0, 1] is skimage's
  normalised limit (a bin is clipped at clip_limit * region pixels; 0.01 is its
  default). OpenCV's clipLimit c is c / nbins here (c = 2 -> 0.0078). Colour
  is processed on `channel` ('l', 'v' or 'rgb').
  """
  from skimage import exposure
  x = _check(image, "clahe")
  h, w = x.shape[:2]
  kernel = (max(1, math.ceil(h / tiles)), max(1, math.ceil(w / tiles)))

  def fn(c):
    return exposure.equalize_adapthist(np.clip(c, 0, 1).astype(np.float64), kernel_size=kernel,
                                       clip_limit=clip_limit, nbins=nbins)

  return _out(_on_channel(x, fn, channel))


@BASELINES.register("lowlight_gamma")
def lowlight_gamma(image: np.ndarray) -> np.ndarray:
  """Zero-parameter low-light gamma on V: gamma = log(0.5) / log(mean V), so the
  mean brightness maps to 0.5; never darkens (gamma <= 1), gamma >= 0.1."""
  x = _check(image, "lowlight_gamma")
  v = x.max(axis=-1)
  m = float(np.clip(v.mean(), 1e-4, 0.9999))
  g = float(np.clip(math.log(0.5) / math.log(m), 0.1, 1.0))
  return _out(_on_channel(x, lambda c: np.asarray(_gamma(c, jnp.float32(g), jnp.float32(1.0))),
                          "v"))


@BASELINES.register("lowlight_hist_eq")
def lowlight_hist_eq(image: np.ndarray) -> np.ndarray:
  """Zero-parameter low-light enhancement: histogram equalisation of V (HSV)."""
  return hist_eq(image, channel="v")


@BASELINES.register("lowlight_clahe")
def lowlight_clahe(image: np.ndarray) -> np.ndarray:
  """Zero-parameter low-light enhancement: CLAHE (8x8 tiles, clip 0.01) on L* (CIE Lab)."""
  return clahe(image, channel="l")


# -------------------------------------------------------- spatial filters ----

@BASELINES.register("gaussian_filter")
def gaussian_filter(image: np.ndarray, sigma: float = 1.0, truncate: float = 4.0) -> np.ndarray:
  """Gaussian smoothing (std `sigma` pixels, kernel radius truncate*sigma, reflect borders)."""
  x = _check(image, "gaussian_filter")
  return _out(scipy.ndimage.gaussian_filter(x, (sigma, sigma, 0), truncate=truncate,
                                            mode="reflect"))


@BASELINES.register("unsharp_mask")
def unsharp_mask(image: np.ndarray, radius: float = 1.0, amount: float = 1.0) -> np.ndarray:
  """Sharpening s = r + amount * (r - G_radius * r), G a Gaussian of std `radius`."""
  x = _check(image, "unsharp_mask")
  blur = scipy.ndimage.gaussian_filter(x, (radius, radius, 0), mode="reflect")
  return _out(x + amount * (x - blur))


@BASELINES.register("median_filter")
def median_filter(image: np.ndarray, size: int = 3) -> np.ndarray:
  """Median over a `size` x `size` window, per channel (reflect borders)."""
  x = _check(image, "median_filter")
  return _out(scipy.ndimage.median_filter(x, size=(size, size, 1), mode="reflect"))


@BASELINES.register("bilateral_filter")
def bilateral_filter(image: np.ndarray, diameter: int = 9, sigma_color: float = 75 / 255,
                     sigma_space: float = 75.0) -> np.ndarray:
  """OpenCV `bilateralFilter` on float32: `sigma_color` in image units ([0, 1]; the
  default is OpenCV's customary 75 on 0-255), `sigma_space` in pixels, neighbourhood
  `diameter` pixels. Colour distance is Euclidean in RGB."""
  cv2 = _require("cv2", "opencv-python-headless", "bilateral_filter")
  x = _check(image, "bilateral_filter")
  src = np.ascontiguousarray(x[..., 0] if x.shape[-1] == 1 else x)
  y = cv2.bilateralFilter(src, int(diameter), float(sigma_color), float(sigma_space))
  return _out(y.reshape(x.shape))


@BASELINES.register("wavelet_denoise")
def wavelet_denoise(image: np.ndarray, sigma: float | None = None, wavelet: str = "db1",
                    mode: str = "soft", levels: int | None = None,
                    method: str = "BayesShrink") -> np.ndarray:
  """Wavelet shrinkage (skimage `denoise_wavelet`, PyWavelets): BayesShrink (or
  'VisuShrink') thresholds per sub-band. `sigma` is the noise std in image units
  ([0, 1]; None estimates it from the finest diagonal sub-band). Colour is
  denoised in YCbCr."""
  _require("pywt", "PyWavelets", "wavelet_denoise")
  from skimage.restoration import denoise_wavelet
  x = _check(image, "wavelet_denoise")
  color = x.shape[-1] == 3
  y = denoise_wavelet(x.astype(np.float64) if color else x[..., 0].astype(np.float64),
                      sigma=sigma, wavelet=wavelet, mode=mode, wavelet_levels=levels,
                      method=method, rescale_sigma=True, convert2ycbcr=color,
                      channel_axis=-1 if color else None)
  return _out(y.reshape(x.shape))


@BASELINES.register("bm3d")
def bm3d_denoise(image: np.ndarray, sigma: float = 25.0, profile: str = "np") -> np.ndarray:
  """BM3D (the `bm3d` package, both stages). `sigma` is the noise std on the
  0-255 scale (as in the denoising tables: 15, 25, 50); colour uses `bm3d_rgb`."""
  bm3d = _require("bm3d", "bm3d", "bm3d")
  x = _check(image, "bm3d")
  s = float(sigma) / 255.0
  if x.shape[-1] == 3:
    y = bm3d.bm3d_rgb(x.astype(np.float64), s, profile=profile)
  else:
    y = bm3d.bm3d(x[..., 0].astype(np.float64), s, profile=profile)
  return _out(np.asarray(y).reshape(x.shape))


# --------------------------------------------------------- resizing, codecs ----

@BASELINES.register("bicubic_up")
def bicubic_up(image: np.ndarray, scale: float = 2.0) -> np.ndarray:
  """MATLAB `imresize(x, scale, 'bicubic')` (enhance_jax.data.bicubic, float64), clipped.

  Output size ceil(H * scale) x ceil(W * scale). Falls back to skimage cubic
  spline `rescale` (not MATLAB-exact) with a warning if that module is missing.
  """
  x = _check(image, "bicubic_up")
  try:
    from enhance_jax.data import bicubic
  except ImportError:
    warnings.warn("enhance_jax.data.bicubic not found: bicubic_up uses skimage "
                  "rescale(order=3), which differs from MATLAB imresize.")
    from skimage.transform import rescale
    return _out(rescale(x, scale, order=3, channel_axis=-1, anti_aliasing=False))
  return _out(bicubic.imresize_np(x.astype(np.float64), scale))


@BASELINES.register("jpeg")
def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
  """JPEG round trip with Pillow (4:2:0 chroma for colour) at `quality` 1-95."""
  from PIL import Image
  x = _check(image, "jpeg")
  u8 = _to_uint8(x)
  buf = io.BytesIO()
  Image.fromarray(u8[..., 0] if x.shape[-1] == 1 else u8).save(buf, format="JPEG",
                                                               quality=int(quality))
  buf.seek(0)
  y = np.asarray(Image.open(buf)).astype(np.float32) / 255.0
  return _out(y.reshape(x.shape))


def jpeg_bytes(image: np.ndarray, quality: int = 75) -> int:
  """Size in bytes of the JPEG that `jpeg(image, quality)` decodes (Table I)."""
  from PIL import Image
  u8 = _to_uint8(_check(image, "jpeg"))
  buf = io.BytesIO()
  Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8).save(buf, format="JPEG",
                                                                quality=int(quality))
  return buf.tell()


# ------------------------------------------------------------- inpainting ----

def _inpaint(image: np.ndarray, mask: np.ndarray, radius: float, flag_name: str,
             method: str) -> np.ndarray:
  cv2 = _require("cv2", "opencv-python-headless", method)
  x = _check(image, method)
  m = np.asarray(mask)
  if m.ndim == 3:
    m = m[..., 0]
  if m.shape != x.shape[:2]:
    raise ValueError(f"baseline {method!r}: mask of shape {np.shape(mask)} does not match "
                     f"the image {x.shape[:2]}.")
  m = m.astype(bool)
  src = _to_uint8(x)
  src = src[..., 0] if x.shape[-1] == 1 else src
  y = cv2.inpaint(np.ascontiguousarray(src), m.astype(np.uint8) * 255, float(radius),
                  getattr(cv2, flag_name))
  y = y.reshape(x.shape).astype(np.float32) / 255.0
  return _out(np.where(m[..., None], y, x))


@BASELINES.register("inpaint_telea")
def inpaint_telea(image: np.ndarray, mask: np.ndarray, radius: float = 3.0) -> np.ndarray:
  """Telea (2004) fast-marching inpainting (OpenCV). `mask` HW or HW1, nonzero = fill.

  OpenCV works on 8 bits; pixels outside the mask are returned unchanged.
  """
  return _inpaint(image, mask, radius, "INPAINT_TELEA", "inpaint_telea")


@BASELINES.register("inpaint_ns")
def inpaint_ns(image: np.ndarray, mask: np.ndarray, radius: float = 3.0) -> np.ndarray:
  """Navier-Stokes (Bertalmio 2001) inpainting (OpenCV). `mask` HW or HW1, nonzero = fill."""
  return _inpaint(image, mask, radius, "INPAINT_NS", "inpaint_ns")
