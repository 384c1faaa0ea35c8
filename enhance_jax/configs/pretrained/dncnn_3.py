"""DnCNN-3 on BSD68 denoising, default σ=25.
Published 31.46 / 29.02 / 26.10 (σ 15/25/50).

Only the denoising task is configured (SR/JPEG need a MATLAB-Y gray pipeline).
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("dncnn_3", arg, task="denoise", sigma=25)
