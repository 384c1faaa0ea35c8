"""DnCNN-S σ=15 (official MatConvNet) on BSD68 σ=15. Published 31.73 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_s15", arg, task="denoise", sigma=15)
