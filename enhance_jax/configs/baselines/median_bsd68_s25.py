"""3x3 median filter on BSD68 σ=25."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("median_filter", dict(size=3), task="denoise", arg=arg)
