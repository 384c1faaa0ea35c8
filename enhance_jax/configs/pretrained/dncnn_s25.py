"""DnCNN-S σ=25 (official MatConvNet) on BSD68 σ=25. Published 29.23 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_s25", arg, task="denoise", sigma=25)
