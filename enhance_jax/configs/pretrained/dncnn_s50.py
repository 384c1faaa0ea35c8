"""DnCNN-S σ=50 (official MatConvNet) on BSD68 σ=50. Published 26.23 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_s50", arg, task="denoise", sigma=50)
