"""Classical baselines: shape/dtype/range contracts and one known property each."""
from __future__ import annotations

import inspect
import sys

import numpy as np
import pytest

from enhance_jax.baselines import classical
from enhance_jax.baselines.registry import BASELINES, apply, apply_batch, parameters
from enhance_jax.data import imageio, paths

ALL = ["negative", "gamma", "log_transform", "contrast_stretch", "intensity_slicing",
       "bit_plane", "hist_eq", "clahe", "lowlight_gamma", "lowlight_hist_eq", "lowlight_clahe",
       "gaussian_filter", "unsharp_mask", "median_filter", "bilateral_filter",
       "wavelet_denoise", "bm3d", "bicubic_up", "jpeg", "inpaint_telea", "inpaint_ns"]


def psnr(a, b):
  return 10 * np.log10(1.0 / np.mean((np.float64(a) - np.float64(b)) ** 2))


def _smooth(h=48, w=40, c=3, seed=0):
  """A smooth synthetic image: gradients plus a few blobs, in [0.1, 0.9]."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
  chans = []
  for k in range(c):
    a = 0.5 + 0.3 * np.sin(2 * np.pi * (xx * (1 + k) + yy * rng.uniform(0.5, 1.5)))
    chans.append(a)
  return np.clip(np.stack(chans, -1), 0, 1).astype(np.float32)


def _real_gray(size=64, index=0):
  folder = paths.shared_subdir("set12")
  if not folder.is_dir():
    pytest.skip(f"shared data not found at {folder} (set $ENHANCE_JAX_DATA)")
  f = imageio.list_images(folder)[index]
  x = imageio.to_float(imageio.read_image(f, channels=1))
  return x[64:64 + size, 64:64 + size]


def test_registry_lists_everything():
  assert set(ALL) <= set(BASELINES.names())
  assert parameters("gamma") == {"gamma": 1.0, "gain": 1.0}
  assert parameters("inpaint_telea")["mask"] is inspect.Parameter.empty
  with pytest.raises(KeyError, match="Did you mean"):
    BASELINES.lookup("gama")


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("bm3d", "inpaint_telea",
                                                               "inpaint_ns")])
@pytest.mark.parametrize("channels", [1, 3])
def test_contract(name, channels):
  x = _smooth(c=channels)
  y = apply(name, x)
  h, w = x.shape[:2]
  if name == "bicubic_up":
    assert y.shape == (2 * h, 2 * w, channels)
  else:
    assert y.shape == x.shape
  assert y.dtype == np.float32
  assert np.all(np.isfinite(y)) and y.min() >= 0 and y.max() <= 1


def test_point_operations():
  x = _smooth()
  np.testing.assert_allclose(apply("negative", apply("negative", x)), x, atol=1e-7)
  np.testing.assert_allclose(apply("negative", x), 1 - x, atol=1e-7)
  np.testing.assert_allclose(apply("gamma", x, gamma=1.0), x, atol=1e-7)
  np.testing.assert_allclose(apply("gamma", x, gamma=0.5), np.sqrt(x), rtol=1e-5)
  assert apply("gamma", x, gamma=0.5).mean() > x.mean() > apply("gamma", x, gamma=2.0).mean()
  np.testing.assert_allclose(apply("log_transform", x), np.log2(1 + x), rtol=1e-5)
  with pytest.raises(ValueError):
    apply("gamma", x, gamma=0.0)


def test_contrast_stretch_maps_percentiles():
  x = 0.4 + 0.2 * _smooth()  # low contrast in [0.42, 0.58]
  y = apply("contrast_stretch", x, low=0.0, high=100.0)
  np.testing.assert_allclose([y.min(), y.max()], [0, 1], atol=1e-6)
  np.testing.assert_allclose(y, (x - x.min()) / (x.max() - x.min()), atol=1e-5)
  y = apply("contrast_stretch", x, low=5, high=95, per_channel=True)
  for c in range(3):
    assert np.mean(y[..., c] == 0) == pytest.approx(0.05, abs=0.02)
    assert np.mean(y[..., c] == 1) == pytest.approx(0.05, abs=0.02)


def test_intensity_and_bit_plane_slicing():
  x = _smooth(c=1)
  binary = apply("intensity_slicing", x, low=0.4, high=0.7, value=1.0, background=0.0)
  np.testing.assert_array_equal(binary, ((x >= 0.4) & (x <= 0.7)).astype(np.float32))
  kept = apply("intensity_slicing", x, low=0.4, high=0.7, value=1.0)
  np.testing.assert_array_equal(kept, np.where((x >= 0.4) & (x <= 0.7), 1.0, x))
  white = np.ones((4, 4, 1), np.float32)
  for k in range(8):
    np.testing.assert_array_equal(apply("bit_plane", white, plane=k), 1.0)
  half = np.full((2, 2, 1), 128 / 255, np.float32)
  assert apply("bit_plane", half, plane=7).min() == 1
  assert apply("bit_plane", half, plane=6).max() == 0
  # Planes recompose the 8-bit image.
  u8 = np.round(x * 255)
  total = sum(apply("bit_plane", x, plane=k) * 2 ** k for k in range(8))
  np.testing.assert_array_equal(total, u8)


def _ks_uniform(v, nbins=256):
  """Max |empirical CDF - uniform CDF| over the quantisation levels."""
  q = np.round(v.ravel() * (nbins - 1)).astype(int)
  cdf = np.cumsum(np.bincount(q, minlength=nbins)) / q.size
  return np.abs(cdf - (np.arange(nbins) + 1) / nbins).max()


def test_hist_eq_flattens_histogram():
  rng = np.random.default_rng(0)
  dark = (rng.beta(2, 8, size=(64, 64, 1))).astype(np.float32)  # skewed to dark
  y = apply("hist_eq", dark)
  assert _ks_uniform(dark) > 0.4
  assert _ks_uniform(y) < 0.02
  # Colour on V keeps the hue: channel ratios are preserved where V > 0.
  rgb = np.clip(dark * np.array([1.0, 0.6, 0.3]), 0, 1).astype(np.float32)
  y = apply("hist_eq", rgb, channel="v")
  lit = y[..., 0] > 0.05
  np.testing.assert_allclose(y[lit][:, 1] / y[lit][:, 0], 0.6, rtol=1e-3)
  assert _ks_uniform(y.max(-1)) < 0.02


def test_clahe_and_lowlight_brighten_dark_images():
  x = (0.15 * _smooth(64, 64)).astype(np.float32)
  for name in ("clahe", "lowlight_gamma", "lowlight_hist_eq", "lowlight_clahe"):
    y = apply(name, x)
    assert y.mean() > 2 * x.mean(), name
  y = apply("lowlight_gamma", x)
  np.testing.assert_allclose(y.max(-1).mean(), 0.5, atol=0.1)
  assert apply("clahe", x[..., :1]).std() > 2 * x[..., :1].std()


def test_smoothing_filters_denoise():
  x = _real_gray(64, index=1) if paths.shared_subdir("set12").is_dir() else _smooth(64, 64, 1)
  rng = np.random.default_rng(1)
  noisy = np.clip(x + rng.normal(0, 25 / 255, x.shape), 0, 1).astype(np.float32)
  base = psnr(noisy, x)
  for name, kw in (("gaussian_filter", {"sigma": 0.8}), ("median_filter", {"size": 3}),
                   ("bilateral_filter", {"diameter": 5, "sigma_color": 0.15, "sigma_space": 2}),
                   ("wavelet_denoise", {})):
    assert psnr(apply(name, noisy, **kw), x) > base + 3.0, name
  flat = np.full((16, 16, 3), 0.3, np.float32)
  for name in ("gaussian_filter", "unsharp_mask", "median_filter", "bilateral_filter"):
    np.testing.assert_allclose(apply(name, flat), flat, atol=1e-6)


def test_median_removes_salt_and_pepper():
  x = _smooth(64, 64, 1)
  rng = np.random.default_rng(2)
  u = rng.uniform(size=x.shape)
  sp = np.where(u < 0.05, 0.0, np.where(u > 0.95, 1.0, x)).astype(np.float32)
  assert psnr(apply("median_filter", sp, size=3), x) > psnr(sp, x) + 10


def test_unsharp_mask_sharpens():
  x = _smooth(c=1)
  blurred = apply("gaussian_filter", x, sigma=1.0)
  y = apply("unsharp_mask", blurred, radius=1.0, amount=1.0)
  lap = lambda a: np.abs(np.diff(a, 2, axis=0)).mean()
  assert lap(y) > lap(blurred)


def test_bm3d_beats_noisy_by_4db():
  x = _real_gray(64)
  rng = np.random.default_rng(3)
  noisy = (x + rng.normal(0, 25 / 255, x.shape)).astype(np.float32)
  noisy = np.clip(noisy, 0, 1)
  y = apply("bm3d", noisy, sigma=25)
  assert y.shape == x.shape and y.dtype == np.float32
  assert psnr(y, x) > psnr(noisy, x) + 4


def test_bicubic_up_matches_imresize():
  x = _smooth(12, 10, 3)
  y = apply("bicubic_up", x, scale=3)
  assert y.shape == (36, 30, 3)
  from enhance_jax.data import bicubic
  np.testing.assert_allclose(y, np.clip(bicubic.imresize_np(x.astype(np.float64), 3), 0, 1),
                             atol=1e-6)
  flat = np.full((5, 5, 1), 0.25, np.float32)
  np.testing.assert_allclose(apply("bicubic_up", flat, scale=2), 0.25, atol=1e-6)


def test_jpeg_quality_orders_psnr():
  x = _smooth(64, 64, 3, seed=4)
  assert psnr(apply("jpeg", x, quality=95), x) > psnr(apply("jpeg", x, quality=10), x)
  assert classical.jpeg_bytes(x, 95) > classical.jpeg_bytes(x, 10)


@pytest.mark.parametrize("name", ["inpaint_telea", "inpaint_ns"])
@pytest.mark.parametrize("channels", [1, 3])
def test_inpaint_fills_hole(name, channels):
  x = _smooth(48, 48, channels)
  mask = np.zeros((48, 48), bool)
  mask[20:28, 18:26] = True
  damaged = np.where(mask[..., None], 0.0, x).astype(np.float32)
  y = apply(name, damaged, mask=mask)
  assert y.shape == x.shape and y.dtype == np.float32
  np.testing.assert_array_equal(y[~mask], damaged[~mask])
  err = np.abs(y[mask] - x[mask]).mean()
  assert err < 0.5 * np.abs(damaged[mask] - x[mask]).mean()
  with pytest.raises(ValueError, match="mask"):
    apply(name, damaged, mask=mask[:10])


def test_apply_batch_splits_masks():
  x = np.stack([_smooth(32, 32, 3, seed=s) for s in range(2)])
  masks = np.zeros((2, 32, 32, 1), bool)
  masks[0, 5:9, 5:9] = True
  masks[1, 20:24, 10:14] = True
  y = apply_batch("inpaint_telea", np.where(masks, 0.0, x), mask=masks, radius=3)
  assert y.shape == x.shape
  y = apply_batch("gamma", x, gamma=0.5)
  np.testing.assert_allclose(y, np.sqrt(x), rtol=1e-5)


def test_missing_library_names_extra(monkeypatch):
  monkeypatch.setitem(sys.modules, "cv2", None)
  monkeypatch.setitem(sys.modules, "bm3d", None)
  x = _smooth(16, 16, 1)
  with pytest.raises(ImportError, match=r"enhance_jax\[baselines\]"):
    apply("bilateral_filter", x)
  with pytest.raises(ImportError, match=r"enhance_jax\[baselines\].*bm3d"):
    apply("bm3d", x)
