"""Gaussian smoothing (std 1 px) on BSD68 σ=25."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("gaussian_filter", dict(sigma=1.0), task="denoise", arg=arg)
