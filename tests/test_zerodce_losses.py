"""Zero-DCE's zero-reference losses against a numpy transcription of the official
Myloss.py (Li-Chongyi/Zero-DCE, NCHW, float64), and their use in training."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.training import zero_reference as zr

# ------------------------------------------------------------ numpy transcription (NCHW) ----
# The four 3x3 kernels of L_spa, as written in Myloss.py (PyTorch conv2d = cross-correlation).
_KERNELS = {
    "left": [[0, 0, 0], [-1, 1, 0], [0, 0, 0]],
    "right": [[0, 0, 0], [0, 1, -1], [0, 0, 0]],
    "up": [[0, -1, 0], [0, 1, 0], [0, 0, 0]],
    "down": [[0, 0, 0], [0, 1, 0], [0, -1, 0]],
}


def _avgpool2d(x, k):
  """nn.AvgPool2d(k) on (B, C, H, W): stride k, no padding, floor."""
  b, c, h, w = x.shape
  ho, wo = h // k, w // k
  return x[:, :, :ho * k, :wo * k].reshape(b, c, ho, k, wo, k).mean(axis=(3, 5))


def _conv2d_pad1(x, kernel):
  """F.conv2d(x, kernel[None, None], padding=1) for one-channel x (B, 1, H, W)."""
  kernel = np.asarray(kernel, np.float64)
  xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
  h, w = x.shape[2], x.shape[3]
  out = np.zeros_like(x)
  for i in range(3):
    for j in range(3):
      out += kernel[i, j] * xp[:, :, i:i + h, j:j + w]
  return out


def _l_color(x):
  mean_rgb = x.mean(axis=(2, 3), keepdims=True)
  mr, mg, mb = mean_rgb[:, 0:1], mean_rgb[:, 1:2], mean_rgb[:, 2:3]
  drg, drb, dgb = (mr - mg) ** 2, (mr - mb) ** 2, (mb - mg) ** 2
  return np.sqrt(drg ** 2 + drb ** 2 + dgb ** 2)  # (B, 1, 1, 1)


def _l_spa(org, enhance):
  org_pool = _avgpool2d(org.mean(axis=1, keepdims=True), 4)
  enh_pool = _avgpool2d(enhance.mean(axis=1, keepdims=True), 4)
  e = 0.0
  for k in _KERNELS.values():
    e = e + (_conv2d_pad1(org_pool, k) - _conv2d_pad1(enh_pool, k)) ** 2
  return e  # (B, 1, H/4, W/4)


def _l_exp(x, patch_size=16, mean_val=0.6):
  mean = _avgpool2d(x.mean(axis=1, keepdims=True), patch_size)
  return np.mean((mean - mean_val) ** 2)


def _l_tv(x, weight=1.0):
  b, _, h, w = x.shape
  count_h, count_w = (h - 1) * w, h * (w - 1)
  h_tv = ((x[:, :, 1:, :] - x[:, :, :h - 1, :]) ** 2).sum()
  w_tv = ((x[:, :, :, 1:] - x[:, :, :, :w - 1]) ** 2).sum()
  return weight * 2 * (h_tv / count_h + w_tv / count_w) / b


def _official_total(img_lowlight, enhanced_image, a):
  """lowlight_train.py: 200*L_TV(A) + mean(L_spa(enhanced, low)) + 5*mean(L_color(enhanced))
  + 10*mean(L_exp(enhanced)), all NCHW."""
  return (200 * _l_tv(a) + np.mean(_l_spa(enhanced_image, img_lowlight))
          + 5 * np.mean(_l_color(enhanced_image)) + 10 * np.mean(_l_exp(enhanced_image)))


def _nchw(x):
  return np.asarray(x, np.float64).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(0)
  low = (rng.uniform(size=(3, 37, 42, 3)) ** 2 * 0.4).astype(np.float32)  # dark, odd sizes
  curves = np.tanh(rng.normal(0, 0.7, size=(3, 37, 42, 24))).astype(np.float32)
  from enhance_jax.models.zerodce import apply_curves
  enhanced = np.asarray(apply_curves(jnp.asarray(low), jnp.asarray(curves)))
  return low, enhanced, curves


def test_each_term_matches_myloss(batch):
  low, enh, curves = batch
  np.testing.assert_allclose(float(zr.color_constancy(enh)), np.mean(_l_color(_nchw(enh))),
                             rtol=0, atol=1e-6)
  np.testing.assert_allclose(float(zr.spatial_consistency(enh, low)),
                             np.mean(_l_spa(_nchw(enh), _nchw(low))), rtol=0, atol=1e-6)
  np.testing.assert_allclose(float(zr.exposure_control(enh)), _l_exp(_nchw(enh)),
                             rtol=0, atol=1e-6)
  tv = float(zr.illumination_smoothness(curves))
  np.testing.assert_allclose(tv, _l_tv(_nchw(curves)), rtol=1e-6)
  assert tv > 1.0  # random curves: far from smooth


def test_total_matches_official_weighting(batch):
  low, enh, curves = batch
  want = _official_total(_nchw(low), _nchw(enh), _nchw(curves))
  got = float(zr.zero_dce_total(enh, low, curves))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  terms = {k: float(v) for k, v in zr.zero_dce_terms(enh, low, curves).items()}
  assert got == pytest.approx(200 * terms["tv"] + terms["spa"] + 5 * terms["col"]
                              + 10 * terms["exp"], rel=1e-6)


def test_terms_behave():
  """Smooth curves cost no TV; a grey image has no colour cast; an image at
  the exposure level E has no exposure loss; enhancing by a constant factor
  changes the neighbour contrasts (spatial term > 0) and identity does not."""
  rng = np.random.default_rng(1)
  x = rng.uniform(0.1, 0.3, size=(2, 32, 32, 3)).astype(np.float32)
  assert float(zr.illumination_smoothness(jnp.full((2, 16, 16, 24), 0.3))) == 0.0
  gray = np.repeat(x[..., :1], 3, -1)
  assert float(zr.color_constancy(gray)) == 0.0
  assert float(zr.exposure_control(jnp.full((1, 32, 32, 3), 0.6))) == pytest.approx(0.0, abs=1e-12)
  assert float(zr.spatial_consistency(x, x)) == 0.0
  assert float(zr.spatial_consistency(2 * x, x)) > 0.0


def test_registered_loss_needs_input_and_curves(batch):
  from enhance_jax.training import losses
  low, enh, curves = batch
  loss_fn = losses.build("zero_dce")
  assert set(loss_fn.needs) == {"input", "curves"}
  total, parts = loss_fn(jnp.asarray(enh), None, {"input": low, "curves": curves})
  np.testing.assert_allclose(float(total), float(zr.zero_dce_total(enh, low, curves)), rtol=1e-6)
  assert set(parts) == {"zero_dce"}
  with pytest.raises(ValueError, match="needs"):
    loss_fn(jnp.asarray(enh), None)


def test_zerodce_trains_on_unpaired_images_with_the_regression_step():
  """train_step with loss 'zero_dce': the model's input and sown curve maps reach
  the loss, the target is never read (here: NaNs), and the loss goes down."""
  import optax
  from enhance_jax import models
  from enhance_jax.training import losses, state as state_lib, steps
  rng = np.random.default_rng(2)
  low = jnp.asarray((rng.uniform(size=(4, 32, 32, 3)) * 0.25).astype(np.float32))
  model = models.get("zerodce", features=8)
  tx = optax.adam(1e-3)
  state = state_lib.create_train_state(model, tx, low, seed=0, ema=False)
  step = jax.jit(lambda s, b: steps.train_step(
      s, b, model=model, tx=tx, loss_fn=losses.build("zero_dce"), degrade=lambda b, k: b,
      lr_schedule=lambda t: 1e-3))
  batch = {"input": low, "target": jnp.full_like(low, jnp.nan)}
  first = None
  for _ in range(30):
    state, metrics = step(state, batch)
    first = float(metrics["loss"]) if first is None else first
  last = float(metrics["loss"])
  assert np.isfinite(last) and last < 0.8 * first, (first, last)
  assert int(state.bad_step) == -1
  assert "intermediates" not in state.model_state
  # The loss equals zero_dce_total of the model's own output and curves.
  out, curves = model.apply({"params": state.params}, low, return_curves=True)
  _, m = step(state, batch)
  np.testing.assert_allclose(float(m["loss"]), float(zr.zero_dce_total(out, low, curves)),
                             rtol=1e-5)
