"""Bilateral filter (9 px, σ_colour 0.2, σ_space 3 px) on BSD68 σ=25."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("bilateral_filter", dict(diameter=9, sigma_color=0.2, sigma_space=3.0), task="denoise", arg=arg)
