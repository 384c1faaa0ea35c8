"""Adaptive gamma (mean V -> 0.5) on the LOL test pairs."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("lowlight_gamma", {}, task="lowlight", arg=arg)
