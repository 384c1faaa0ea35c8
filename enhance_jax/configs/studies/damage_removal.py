"""Damage-removal study (experiments/damage_removal.py): Task 3 of
cnn_enhancement_lowlight_inpainting.txt, one row per config.

  --config=studies/damage_removal:method=cnn,profile=cpu      # the CNN trained here
  --config=studies/damage_removal:method=telea,profile=cpu    # OpenCV Telea (evaluate only)

method: cnn (inpainting_cnn.py: a residual U-Net that sees only the damaged image), telea
or ns (OpenCV inpainting, given the hole mask; baselines/inpaint_*_bsds500.py). Every
method is scored on the same damaged inputs, config.evals.test:
  paper: BSDS500 test, all 200 full images.
  cpu:   BSDS500 test, the first 24 images, centre crops 256x256.
The CNN also keeps its validation set (config.evals.val: 8 BSDS500 val crops of 128 px in
the cpu profile), scored with the test set once per epoch for the curves.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.baselines import _common as baselines

CLASSICAL = {"telea": "inpaint_telea", "ns": "inpaint_ns"}
TEST = {"cpu": dict(eval_max_size=256, max_eval_images=24),
        "paper": dict(eval_max_size=0, max_eval_images=0)}


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return ["method=cnn"] + [f"method={m}" for m in CLASSICAL]


def test_set(profile: str) -> dict:
  """BSDS500 test with `_profiles.HOLES` (1-3 black rectangles of 10-25 % of each side)."""
  return dict(data=dict(name="bsds500", kwargs={}, channels=3, degrade=_profiles.HOLES,
                        eval_split="test", augment=False, **TEST[profile]),
              eval=dict(round_uint8=True, y_channel=False, crop_border=0, grid_images=3))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, method="cnn")
  method, profile = a["method"], a["profile"]
  if method == "cnn":
    from enhance_jax.configs import inpainting_cnn
    c = inpainting_cnn.get_config(f"profile={profile}")
    val = dict(data=dict(eval_split=c.data.eval_split, eval_max_size=c.data.eval_max_size,
                         max_eval_images=c.data.max_eval_images))
    c.evals = ml_collections.ConfigDict({"val": val, "test": test_set(profile)})
    return c
  if method not in CLASSICAL:
    raise ConfigError(f"config argument method={method}: use cnn, {', '.join(CLASSICAL)}.")
  c = baselines.baseline_config(CLASSICAL[method], dict(radius=3.0), task="holes")
  c.evals = ml_collections.ConfigDict({"test": test_set(profile)})
  return c
