"""SaoYan PyTorch DnCNN-S σ=50 (BatchNorm) on BSD68. Their README: 26.22 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_saoyan_s50", arg, task="denoise", sigma=50)
