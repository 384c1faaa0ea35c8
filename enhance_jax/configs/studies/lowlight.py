"""Low-light study (experiments/lowlight_study.py): lowlight_mirnet_cnn_gan.txt and Tasks 1-2
of cnn_enhancement_lowlight_inpainting.txt, one row per config.

  --config=studies/lowlight:method=unet,profile=cpu     # a network trained here
  --config=studies/lowlight:method=clahe,profile=cpu    # a classical method (evaluate only)

method: cnn | unet | mirnet (lowlight_{cnn,unet,mirnet}.py), gan (lowlight_gan.py with the
profile's data and schedule), gamma | hist_eq | clahe (baselines/*_lol.py), zerodce (the
official Zero-DCE weights, pretrained/zerodce.py), or a zoo model trained here and scored,
not retrained: zerodce_zoo (zoo/zerodce, Zero-DCE trained zero-reference on DICM + LIME) and
default_zoo (zoo/lowlight_default, the default job's curve net). Every method is scored on
the same test inputs, named eval sets:
  paper: `lol` — LOL eval15 (15 real pairs, 600x400).
  cpu:   `synthetic` — BSDS500 test, 24 centre crops 256x256 with the synthetic low-light
         degradation; `lol778` — LOL eval15 pair 778 (the only complete LOL pair in the
         shared data). Networks also keep their validation set `val` (8 BSDS500 val crops
         of 128 px), for the per-epoch curves.
Networks train on LOL our485 (paper) or on synthetic low-light BSDS500 pairs (cpu: LOL's
training pairs are not in the shared data); see _profiles.py.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.baselines import _common as baselines
from enhance_jax.configs.studies import _common

NETWORKS = ("cnn", "unet", "mirnet", "gan")
CLASSICAL = {"gamma": "lowlight_gamma", "hist_eq": "lowlight_hist_eq",
             "clahe": "lowlight_clahe"}
ZOO = {"zerodce_zoo": "zerodce", "default_zoo": "lowlight_default"}  # method -> zoo config
_LOL = dict(name="lol", kwargs={}, degrade="", eval_split="test", eval_max_size=0,
            max_eval_images=0, channels=3)


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return [f"method={m}" for m in (*NETWORKS, *CLASSICAL, "zerodce", *ZOO)]


def test_sets(profile: str) -> dict:
  """{name: eval set} every method is scored on."""
  ev = dict(grid_images=2, round_uint8=True, y_channel=False, crop_border=0)
  if profile == "paper":
    return {"lol": dict(data=dict(_LOL, augment=False), eval=ev)}
  return {
      "synthetic": dict(data=dict(name="bsds500", kwargs={}, degrade=_profiles.LOW_LIGHT,
                                  eval_split="test", eval_max_size=256, max_eval_images=24,
                                  channels=3, augment=False), eval=ev),
      "lol778": dict(data=dict(_LOL, kwargs=dict(allow_partial=True), augment=False), eval=ev),
  }


def _network(method: str, profile: str) -> ml_collections.ConfigDict:
  if method == "gan":
    from enhance_jax.configs import lowlight_gan
    c = lowlight_gan.get_config()
    _profiles.lowlight(c, profile)
    c.loss = "l1+0*mse"  # +0*mse: logs the train MSE for the PSNR curve only
    if profile == "cpu":
      c.model.kwargs.features, c.model.kwargs.depth = 8, 3
      c.gan.disc.kwargs.features = 16
      c.optimizer.learning_rate = 1e-3  # G; D keeps its 2e-4
      c.train.ema_decay = 0.9
    return c
  import importlib
  module = importlib.import_module(f"enhance_jax.configs.lowlight_{method}")
  return module.get_config(f"profile={profile}")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, method="cnn")
  method, profile = a["method"], a["profile"]
  tests = test_sets(profile)
  if method in NETWORKS:
    c = _network(method, profile)
    if profile == "cpu":  # the profile's own validation split first, for the curves
      tests = {"val": dict(data=dict(eval_split=c.data.eval_split,
                                     eval_max_size=c.data.eval_max_size,
                                     max_eval_images=c.data.max_eval_images)), **tests}
  elif method in CLASSICAL:
    c = baselines.baseline_config(CLASSICAL[method], {}, task="lowlight")
  elif method == "zerodce":
    from enhance_jax.configs.pretrained import _common as pretrained
    c = pretrained.pretrained_config("zerodce", None, task="lowlight")
  elif method in ZOO:
    c = _common.zoo_row(ZOO[method])
  else:
    raise ConfigError(f"config argument method={method}: use one of "
                      f"{', '.join((*NETWORKS, *CLASSICAL, 'zerodce', *ZOO))}.")
  c.evals = ml_collections.ConfigDict(tests)
  return c
