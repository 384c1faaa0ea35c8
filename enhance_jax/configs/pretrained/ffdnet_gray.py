"""FFDNet gray on BSD68, default σ=25 (noise level given to the net).
Published 31.63 / 29.19 / 27.73 / 26.29 / 24.79 (σ 15/25/35/50/75).
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("ffdnet_gray", arg, task="denoise", sigma=25)
