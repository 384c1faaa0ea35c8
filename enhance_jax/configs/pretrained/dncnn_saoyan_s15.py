"""SaoYan PyTorch DnCNN-S σ=15 (BatchNorm) on BSD68. Their README: 31.71 dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_saoyan_s15", arg, task="denoise", sigma=15)
