"""DnCNN-B (blind gray) on BSD68, default σ=25 (arg "sigma=15|25|50").
Published 31.61 / 29.16 / 26.23.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_b", arg, task="denoise", sigma=25)
