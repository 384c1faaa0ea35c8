"""Paired crops / flips and host-side JPEG."""
from __future__ import annotations

import numpy as np
import pytest

from enhance_jax.data import augment, bicubic, host_ops


def _coords(h, w):
  """uint8-free coordinate image: channel 0 = row, 1 = column (int32)."""
  yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  return np.stack([yy, xx], -1).astype(np.int32)


def test_same_size_pair_crop_is_aligned():
  t = _coords(40, 50)
  ex = {"target": t, "input": t + 1000, "name": "a"}
  rng = np.random.default_rng(0)
  for _ in range(10):
    c = augment.paired_random_crop(ex, 16, 1, rng)
    assert c["target"].shape == (16, 16, 2)
    np.testing.assert_array_equal(c["input"], c["target"] + 1000)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_crop_positions_match(scale):
  hr = _coords(48, 36)
  lr = hr[::scale, ::scale]  # LR pixel (i, j) <-> HR pixel (i*s, j*s)
  ex = {"target": hr, "input": lr, "name": "sr"}
  rng = np.random.default_rng(1)
  for _ in range(10):
    c = augment.paired_random_crop(ex, 12, scale, rng)
    assert c["target"].shape == (12, 12, 2) and c["input"].shape == (12 // scale, 12 // scale, 2)
    np.testing.assert_array_equal(c["input"], c["target"][::scale, ::scale])
    f = augment.paired_flip_rot(c, rng)
    # Block (i, j) of the flipped HR patch holds the HR pixels of flipped LR pixel (i, j).
    blocks = f["target"].reshape(12 // scale, scale, 12 // scale, scale, 2) // scale
    np.testing.assert_array_equal(blocks.min(axis=(1, 3)), f["input"] // scale)


def test_flip_rot_identical_on_both_and_all_eight():
  t = _coords(6, 6)
  ex = {"target": t, "input": t * 2, "mask": t[..., :1], "name": "x"}
  rng = np.random.default_rng(2)
  seen = set()
  for _ in range(200):
    f = augment.paired_flip_rot(ex, rng)
    np.testing.assert_array_equal(f["input"], f["target"] * 2)
    np.testing.assert_array_equal(f["mask"], f["target"][..., :1])
    seen.add(f["target"].tobytes())
  assert len(seen) == 8


def test_errors_name_the_example():
  ex = {"target": np.zeros((10, 20, 3), np.uint8), "name": "tiny.png"}
  with pytest.raises(ValueError, match="tiny.png"):
    augment.paired_random_crop(ex, 16, 1, np.random.default_rng(0))
  ex = {"target": np.zeros((40, 40, 3), np.uint8), "input": np.zeros((30, 30, 3), np.uint8),
        "name": "bad_pair"}
  with pytest.raises(ValueError, match="bad_pair"):
    augment.paired_random_crop(ex, 16, 2, np.random.default_rng(0))


def test_center_crop_sr():
  hr = _coords(40, 30)
  c = augment.center_crop({"target": hr, "input": hr[::2, ::2]}, 16, 2)
  np.testing.assert_array_equal(c["input"], c["target"][::2, ::2])


def test_jpeg_and_host_spec():
  rng = np.random.default_rng(0)
  img = (bicubic.imresize_np(rng.random((8, 8, 3)), 8.0).clip(0, 1) * 255).astype(np.uint8)
  q10, q90 = host_ops.jpeg(img, 10), host_ops.jpeg(img, 90)
  assert q10.shape == img.shape and q10.dtype == np.uint8
  err = lambda a: np.abs(a.astype(float) - img).mean()  # noqa: E731
  assert err(q10) > err(q90)
  assert host_ops.jpeg(img[..., :1], 50).shape == (64, 64, 1)
  fn = host_ops.build("jpeg(quality=(10, 30))")
  out = fn({"target": img, "name": "a"}, np.random.default_rng(1))
  assert out["input"].shape == img.shape
  again = fn({"target": img, "name": "a"}, np.random.default_rng(1))
  np.testing.assert_array_equal(out["input"], again["input"])
  lr = host_ops.build("bicubic_down(scale=2)")({"target": img}, rng)["input"]
  assert lr.shape == (32, 32, 3) and lr.dtype == np.uint8
  assert "input" not in host_ops.build("")({"target": img}, rng)
  with pytest.raises(KeyError, match="jpg"):
    host_ops.build("jpg(quality=10)")
