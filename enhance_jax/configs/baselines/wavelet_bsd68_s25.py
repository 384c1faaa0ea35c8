"""Wavelet BayesShrink (db2, known σ) on BSD68 σ=25."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("wavelet_denoise", dict(wavelet='db2', sigma=25 / 255), task="denoise", arg=arg)
