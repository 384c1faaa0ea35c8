"""DnCNN-S σ=25 from KAIR dncnn_25.pth (bit-identical to sigma=25.mat) on BSD68.
Published 29.23 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_kair_s25", arg, task="denoise", sigma=25)
