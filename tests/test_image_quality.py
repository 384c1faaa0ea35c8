"""PSNR/SSIM protocols against independent references (numpy MSE, skimage SSIM)."""
import numpy as np
import pytest
import skimage.data
from skimage.metrics import structural_similarity

from enhance_jax.metrics import image_quality as iq


@pytest.fixture(scope="module")
def pair():
  rng = np.random.default_rng(0)
  a = skimage.data.astronaut()[100:196, 150:230].astype(np.float32) / 255.0
  b = np.clip(a + 0.08 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
  return a, b


def _ref_psnr(a, b):
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return 10 * np.log10(1.0 / mse)


def _ref_y(x):
  """MATLAB rgb2ycbcr Y on [0, 1] RGB, in [0, 255] (written out independently)."""
  return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def test_psnr_rgb(pair):
  a, b = pair
  got = float(iq.psnr(a[None], b[None])[0])
  assert abs(got - _ref_psnr(a, b)) < 1e-4


def test_psnr_y_crop_round(pair):
  a, b = pair
  k = 4
  p = iq.Protocol(y_channel=True, crop_border=k, round_uint8=True)
  ya = np.round(_ref_y(np.round(a * 255) / 255))[k:-k, k:-k]
  yb = np.round(_ref_y(np.round(np.clip(b, 0, 1) * 255) / 255))[k:-k, k:-k]
  mse = np.mean((ya - yb) ** 2)
  want = 10 * np.log10(255.0 ** 2 / mse)
  assert abs(float(iq.psnr(a[None], b[None], p)[0]) - want) < 1e-3


def test_psnr_rounding_changes_value(pair):
  a, b = pair
  b = b + 0.3 / 255
  plain = float(iq.psnr(a[None], b[None])[0])
  rounded = float(iq.psnr(a[None], b[None], iq.Protocol(round_uint8=True))[0])
  assert plain != pytest.approx(rounded, abs=1e-6)


def test_ssim_matches_skimage_gaussian(pair):
  a, b = pair
  want = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                               data_range=1.0, channel_axis=-1)
  assert abs(float(iq.ssim(a[None], b[None])[0]) - want) < 1e-4


def test_ssim_y_channel_matches_skimage(pair):
  a, b = pair
  p = iq.Protocol(y_channel=True, crop_border=3)
  ya, yb = (_ref_y(a) / 255)[3:-3, 3:-3], (_ref_y(b) / 255)[3:-3, 3:-3]
  want = structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=1.0)
  assert abs(float(iq.ssim(a[None], b[None], p)[0]) - want) < 1e-4


def test_identical_images():
  x = np.random.default_rng(1).random((2, 24, 24, 1), dtype=np.float32)
  assert np.all(np.isinf(np.asarray(iq.psnr(x, x))))
  np.testing.assert_allclose(np.asarray(iq.ssim(x, x)), 1.0, atol=1e-6)


def _basicsr_psnr_y(img, img2, crop_border):
  """A transcription of BasicSR's `calculate_psnr(img, img2, crop_border,
  test_y_channel=True)` (basicsr/metrics/psnr_ssim.py) from its documented
  behaviour: uint8 HWC BGR images in [0, 255] (cv2 order), float64, border
  crop, Y = `bgr2ycbcr(img / 255, y_only=True) * 255` left unrounded, peak 255."""
  def to_y(im):
    im = im.astype(np.float32) / 255.0
    y = np.dot(im, [24.966, 128.553, 65.481]) + 16.0  # BGR weights, output in [16, 235]
    return (y / 255.0)[..., None] * 255.0
  img, img2 = img.astype(np.float64), img2.astype(np.float64)
  if crop_border:
    img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    img2 = img2[crop_border:-crop_border, crop_border:-crop_border, ...]
  img, img2 = to_y(img).astype(np.float64), to_y(img2).astype(np.float64)
  mse = np.mean((img - img2) ** 2)
  return 10.0 * np.log10(255.0 * 255.0 / mse)


def _tensor2img(x):
  """BasicSR's `tensor2img` for one RGB float image in [0, 1] -> uint8 BGR."""
  return np.round(np.clip(x, 0, 1) * 255.0).astype(np.uint8)[..., ::-1]


@pytest.mark.parametrize("sigma", [0.02, 0.004, 0.0015])  # ~39, ~53, ~60 dB
def test_psnr_y_basicsr_protocol_matches_transcription(sigma):
  rng = np.random.default_rng(3)
  a = skimage.data.astronaut()[40:136, 120:220].astype(np.float32) / 255.0
  b = np.clip(a + sigma * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
  k = 4
  want = _basicsr_psnr_y(_tensor2img(b), _tensor2img(a), k)
  p = iq.Protocol(y_channel=True, crop_border=k, round_uint8=True, y_protocol="basicsr")
  got = float(iq.psnr(b[None], a[None], p)[0])
  assert abs(got - want) < 1e-5, (got, want)
  # MATLAB protocol (Y rounded) differs from it, and is lower.
  matlab = float(iq.psnr(b[None], a[None], iq.Protocol(y_channel=True, crop_border=k,
                                                       round_uint8=True))[0])
  assert matlab < want - 0.01


def test_y_protocol_rejects_unknown():
  with pytest.raises(ValueError, match="eval.y_protocol"):
    iq.Protocol(y_protocol="pil")
