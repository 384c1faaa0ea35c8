"""BM3D (both stages, bm3d package) on BSD68 σ=25, noise not clipped. Published 28.57 dB."""
from __future__ import annotations

from enhance_jax.config import sibling_module

_common = sibling_module(__file__, "_common")


def get_config(arg=None):
  return _common.baseline_config("bm3d", {}, task="denoise", arg=arg)
