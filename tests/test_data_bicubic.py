"""MATLAB-bicubic resize: synthetic properties and the Set5 benchmark files."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from enhance_jax.data import bicubic, color, imageio
from enhance_jax.data import degradations
from enhance_jax.data.paths import shared_subdir


def test_weights_sum_to_one_and_indices_in_range():
  for n_in, n_out, s in [(10, 5, 0.5), (9, 3, 1 / 3), (7, 28, 4.0), (10, 7, 0.7)]:
    for boundary in bicubic.BOUNDARIES:
      w, idx = bicubic.contributions(n_in, n_out, s, True, boundary)
      np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
      assert idx.min() >= 0 and idx.max() < n_in


def test_constant_image_and_shapes():
  x = np.full((2, 12, 9, 3), 0.3, np.float32)
  for scale, shape in [(0.5, (6, 5)), (1 / 3, (4, 3)), (2, (24, 18)), (0.7, (9, 7))]:
    y = bicubic.imresize(x, scale)
    assert y.shape == (2, *shape, 3) and bicubic.output_size((12, 9), scale) == shape
    np.testing.assert_allclose(np.asarray(y), 0.3, atol=1e-6)
  assert bicubic.imresize(x[0], output_shape=(5, 4)).shape == (5, 4, 3)


def test_jax_matches_numpy_and_jits():
  x = np.random.default_rng(0).random((1, 17, 13, 1)).astype(np.float32)
  f = jax.jit(lambda v: bicubic.imresize(v, 1 / 3))
  np.testing.assert_allclose(np.asarray(f(x)), bicubic.imresize_np(x, 1 / 3), atol=1e-5)
  np.testing.assert_allclose(np.asarray(bicubic.imresize(x, 2.5)),
                             bicubic.imresize_np(x, 2.5), atol=1e-5)


def test_degradation_ops():
  x = np.random.default_rng(1).random((2, 24, 24, 3)).astype(np.float32)
  down = jax.jit(degradations.build("bicubic_down(scale=3)"))({"target": x}, jax.random.key(0))
  assert down["input"].shape == (2, 8, 8, 3) and down["target"].shape == x.shape
  up = degradations.build("bicubic_down(scale=2)|bicubic_up(scale=2)")({"target": x},
                                                                        jax.random.key(0))
  assert up["input"].shape == x.shape
  odd = {"target": x[:, :23, :22]}
  mc = degradations.build("bicubic_down(scale=4, modcrop=True)")(odd, jax.random.key(0))
  assert mc["target"].shape == (2, 20, 20, 3) and mc["input"].shape == (2, 5, 5, 3)


def _set5(k: int, i: int):
  d = shared_subdir("set5", f"image_SRF_{k}")
  hr, lr = d / f"img_00{i}_SRF_{k}_HR.png", d / f"img_00{i}_SRF_{k}_LR.png"
  if not hr.exists() or not lr.exists():
    pytest.skip(f"Set5 not found at {d} (set ENHANCE_JAX_DATA to the shared data folder).")
  return imageio.read_image(hr), imageio.read_image(lr)


def _psnr_y(a: np.ndarray, b: np.ndarray, shave: int) -> float:
  ya = color.rgb_to_ycbcr_uint8(a)[shave:-shave, shave:-shave, 0].astype(np.float64)
  yb = color.rgb_to_ycbcr_uint8(b)[shave:-shave, shave:-shave, 0].astype(np.float64)
  return 10 * np.log10(255.0 ** 2 / np.mean((ya - yb) ** 2))


@pytest.mark.parametrize("k", [2, 3, 4])
def test_set5_lr_within_one_gray_level(k):
  """The shipped LR = MATLAB imresize(HR, 1/k) with replicated borders (older MATLAB)."""
  for i in range(1, 6):
    hr, lr = _set5(k, i)
    ours = imageio.to_uint8(np.asarray(bicubic.imresize(
        imageio.to_float(hr), 1 / k, boundary="replicate", round_intermediate=True)))
    assert ours.shape == lr.shape
    assert np.abs(ours.astype(int) - lr).max() <= 1, (k, i)
    # float64 numpy with MATLAB's uint8 rounding per axis: bit-exact.
    np.testing.assert_array_equal(bicubic.imresize_np(hr, 1 / k, boundary="replicate"), lr)
    # Current MATLAB's symmetric border: identical away from the 3-pixel border.
    sym = bicubic.imresize_np(hr, 1 / k)
    np.testing.assert_array_equal(sym[3:-3, 3:-3], lr[3:-3, 3:-3])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_set5_bicubic_psnr_matches_selfexsr_table(k):
  scipy_io = pytest.importorskip("scipy.io")
  mat = shared_subdir("set5", "reference_results_selfexsr", f"result_Set5_SRF_{k}.mat")
  if not mat.exists():
    pytest.skip(f"{mat} not found (set ENHANCE_JAX_DATA to the shared data folder).")
  table = scipy_io.loadmat(mat)["PSNR_table"][:, 0]
  for i in range(1, 6):
    hr, lr = _set5(k, i)
    up = imageio.to_uint8(np.asarray(bicubic.imresize(imageio.to_float(lr), k,
                                                      round_intermediate=True)))
    assert up.shape == hr.shape
    assert abs(_psnr_y(up, hr, k) - table[i - 1]) < 0.01, (k, i)
    assert abs(_psnr_y(bicubic.imresize_np(lr, k), hr, k) - table[i - 1]) < 1e-3, (k, i)
