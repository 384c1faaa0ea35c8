"""BM3D (both stages, bm3d package) on BSD68 σ=25, noise not clipped. Published 28.57 dB."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("bm3d", {}, task="denoise", arg=arg)
