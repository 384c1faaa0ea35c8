"""SaoYan PyTorch DnCNN-B (BatchNorm) on BSD68, default σ=25. Their README: 31.60 / 29.15 / 26.20.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_saoyan_b", arg, task="denoise", sigma=25)
