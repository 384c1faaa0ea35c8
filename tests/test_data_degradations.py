"""In-graph degradations added for issue #3: statistics, determinism, jit."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.data import color, degradations


def _batch(n=4, h=64, w=64, c=3, seed=0):
  x = np.random.default_rng(seed).random((n, h, w, c)).astype(np.float32)
  return {"target": jnp.asarray(x)}


SPECS = [
    "gaussian_noise(sigma=25)",
    "bicubic_down(scale=2)",
    "bicubic_up(scale=2)",
    "random_holes(rects=(1, 3), strokes=(0, 2))",
    "grayscale(channels=1)",
    "grayscale",
    "to_ycbcr",
    "to_lab(keys=('input', 'target'))",
    "exposure",
]


RANDOM = ("gaussian_noise", "random_holes", "exposure")


@pytest.mark.parametrize("spec", SPECS)
def test_jit_and_determinism(spec):
  fn = jax.jit(degradations.build(spec))
  b = _batch(n=2, h=32, w=32)
  a1 = fn(b, jax.random.key(3))
  a2 = fn(b, jax.random.key(3))
  for k in a1:
    np.testing.assert_array_equal(np.asarray(a1[k]), np.asarray(a2[k]))
  assert np.all(np.isfinite(np.asarray(a1["input"])))
  if spec.startswith(RANDOM):  # another key gives another degradation
    a3 = fn(b, jax.random.key(4))
    assert not np.array_equal(np.asarray(a1["input"]), np.asarray(a3["input"]))


def test_noise_sigma_statistics():
  b = {"target": jnp.full((8, 64, 64, 1), 0.5)}
  out = degradations.build("gaussian_noise(sigma=25)")(b, jax.random.key(0))
  assert abs(float(jnp.std(out["input"] - 0.5)) * 255 - 25) < 0.5
  out = degradations.build("gaussian_noise(sigma=(5, 50))")(b, jax.random.key(1))
  per = np.asarray(jnp.std(out["input"] - 0.5, axis=(1, 2, 3))) * 255
  np.testing.assert_allclose(per, np.asarray(out["noise_level"]) * 255, rtol=0.05)
  assert per.min() >= 4 and per.max() <= 52


def test_holes_area_fraction_and_black():
  b = _batch(n=6)
  out = jax.jit(degradations.build("random_holes(rects=1, area=0.25, aspect=1.0)"))(
      b, jax.random.key(0))
  mask = np.asarray(out["mask"])
  assert mask.shape == (6, 64, 64, 1)
  np.testing.assert_allclose(mask.mean(axis=(1, 2, 3)), 0.25)
  x = np.asarray(out["input"])
  assert np.all(x[np.broadcast_to(mask > 0, x.shape)] == 0)
  np.testing.assert_array_equal(x[np.broadcast_to(mask == 0, x.shape)],
                                np.asarray(b["target"])[np.broadcast_to(mask == 0, x.shape)])
  # Area range with several rectangles: union never exceeds the requested area.
  out = jax.jit(degradations.build("random_holes(rects=(2, 4), area=(0.1, 0.3))"))(
      b, jax.random.key(1))
  frac = np.asarray(out["mask"]).mean(axis=(1, 2, 3))
  assert np.all(frac > 0) and np.all(frac <= 0.3 + 0.02)
  # Strokes only: some damage, far from the whole image; different keys differ.
  s = jax.jit(degradations.build("random_holes(rects=0, strokes=(1, 3))"))
  m1 = np.asarray(s(b, jax.random.key(2))["mask"])
  m2 = np.asarray(s(b, jax.random.key(4))["mask"])
  assert 0.005 < m1.mean() < 0.6 and not np.array_equal(m1, m2)


def test_grayscale_and_color_roundtrips():
  b = _batch(n=2, h=8, w=8)
  g = degradations.build("grayscale(channels=1)")(b, jax.random.key(0))["input"]
  np.testing.assert_allclose(np.asarray(g[..., 0]),
                             np.asarray(b["target"]) @ np.array([0.299, 0.587, 0.114]), atol=1e-5)
  x = np.asarray(b["target"])
  np.testing.assert_allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(x)), x, atol=1e-5)
  np.testing.assert_allclose(np.asarray(color.lab_to_rgb(color.rgb_to_lab(jnp.asarray(x)))), x,
                             atol=1e-4)
  white = color.rgb_to_lab(np.ones((1, 3)))
  np.testing.assert_allclose(white, [[100, 0, 0]], atol=1e-2)
  u8 = np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8)
  np.testing.assert_array_equal(color.rgb_to_ycbcr_uint8(u8)[..., 0], [[235, 16]])


def test_exposure_changes_brightness():
  b = {"target": jnp.full((2, 8, 8, 3), 0.4)}
  dark = degradations.build("exposure(ev=-1, contrast=1.0)")(b, jax.random.key(0))["input"]
  np.testing.assert_allclose(np.asarray(dark), 0.2, atol=1e-6)
  bright = degradations.build("exposure(ev=2, contrast=1.0)")(b, jax.random.key(0))["input"]
  np.testing.assert_allclose(np.asarray(bright), 1.0)


def test_color_matches_scikit_image():
  skcolor = pytest.importorskip("skimage.color")
  x = np.random.default_rng(5).random((8, 8, 3))
  np.testing.assert_allclose(color.rgb_to_ycbcr(x) * 255, skcolor.rgb2ycbcr(x), atol=1e-9)
  np.testing.assert_allclose(color.rgb_to_lab(x), skcolor.rgb2lab(x), atol=0.01)
  np.testing.assert_allclose(color.lab_to_rgb(skcolor.rgb2lab(x)), x, atol=1e-3)
