"""VIF, LPIPS/VGG, FID/KID against independent float64 numpy/scipy computations."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

import jax
import jax.numpy as jnp

from enhance_jax.data import imageio, paths
from enhance_jax.metrics import vif


# ---------------------------------------------------------------- VIF ----

def _fspecial_gaussian(n, sigma):
  r = (n - 1) / 2.0
  y, x = np.mgrid[-r:r + 1, -r:r + 1]
  h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
  h[h < np.finfo(float).eps * h.max()] = 0
  return h / h.sum()


def _vifp_reference(ref, dist, sigma_nsq=2.0):
  """Line-by-line float64 port of vifp_mscale.m (scipy.signal 'valid' filtering)."""
  ref = ref.astype(np.float64)
  dist = dist.astype(np.float64)
  filt = lambda w, a: scipy.signal.correlate2d(a, w, mode="valid")
  num = den = 0.0
  for scale in range(1, 5):
    n = 2 ** (4 - scale + 1) + 1
    win = _fspecial_gaussian(n, n / 5)
    if scale > 1:
      ref = filt(win, ref)[::2, ::2]
      dist = filt(win, dist)[::2, ::2]
    mu1, mu2 = filt(win, ref), filt(win, dist)
    s1 = filt(win, ref * ref) - mu1 * mu1
    s2 = filt(win, dist * dist) - mu2 * mu2
    s12 = filt(win, ref * dist) - mu1 * mu2
    s1[s1 < 0] = 0
    s2[s2 < 0] = 0
    g = s12 / (s1 + 1e-10)
    sv = s2 - g * s12
    m = s1 < 1e-10
    g[m] = 0
    sv[m] = s2[m]
    s1[m] = 0
    m = s2 < 1e-10
    g[m] = 0
    sv[m] = 0
    m = g < 0
    sv[m] = s2[m]
    g[m] = 0
    sv[sv <= 1e-10] = 1e-10
    num += np.sum(np.log10(1 + g ** 2 * s1 / (sv + sigma_nsq)))
    den += np.sum(np.log10(1 + s1 / sigma_nsq))
  return num / den


def _real_gray_images(k=2, size=96):
  folder = paths.shared_subdir("set12")
  if not folder.is_dir():
    pytest.skip(f"shared data not found at {folder} (set $ENHANCE_JAX_DATA)")
  files = imageio.list_images(folder)[:k]
  return np.stack([imageio.to_float(imageio.read_image(f, channels=1))[:size, :size]
                   for f in files])


def test_vif_min_size_and_identity():
  assert vif.min_image_size() == 41
  x = np.random.default_rng(0).uniform(size=(2, 48, 50, 1)).astype(np.float32)
  np.testing.assert_allclose(vif.vifp(x, x), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="too small"):
    vif.vifp(x[:, :40], x[:, :40])


def test_vif_random_matches_reference():
  rng = np.random.default_rng(1)
  ref = rng.uniform(size=(3, 64, 72, 1))
  std = np.array([0.02, 0.1, 0.3]).reshape(3, 1, 1, 1)
  dist = np.clip(ref + std * rng.normal(size=ref.shape), 0, 1)
  got = np.asarray(vif.vifp(ref.astype(np.float32), dist.astype(np.float32)))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, dist)])
  np.testing.assert_allclose(got, want, rtol=1e-4)
  assert np.all(np.diff(got) < 0)  # more noise, lower VIF


def test_vif_real_images_match_reference():
  ref = _real_gray_images()
  rng = np.random.default_rng(2)
  noisy = np.clip(ref + rng.normal(0, 25 / 255, ref.shape), 0, 1).astype(np.float32)
  got = np.asarray(vif.vifp(ref, noisy))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, noisy)])
  np.testing.assert_allclose(got, want, rtol=1e-4)
  # A contrast-enhanced copy (gain > 1) scores VIF > 1, as in the paper.
  bright = np.clip(1.3 * (ref - 0.5) + 0.5, 0, 1).astype(np.float32)
  got = np.asarray(vif.vifp(ref, bright))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, bright)])
  np.testing.assert_allclose(got, want, rtol=1e-4)


def test_vif_rgb_conversion():
  rng = np.random.default_rng(3)
  ref = rng.uniform(size=(1, 48, 48, 3)).astype(np.float32)
  dist = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
  for color, w, off in (("gray", [0.299, 0.587, 0.114], 0.0),
                        ("y", np.array([65.481, 128.553, 24.966]) / 255, 16.0)):
    r = ref[0].astype(np.float64) @ np.asarray(w) * 255 + off
    d = dist[0].astype(np.float64) @ np.asarray(w) * 255 + off
    got = float(vif.vifp(ref, dist, color=color)[0])
    np.testing.assert_allclose(got, _vifp_reference(r, d), rtol=1e-4)
