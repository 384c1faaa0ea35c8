"""CLAHE on L* on the LOL test pairs."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("lowlight_clahe", {}, task="lowlight", arg=arg)
