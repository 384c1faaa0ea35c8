"""FFDNet gray trained for clipped noise, on BSD68 with clipped AWGN, default σ=25.
No published number stored.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("ffdnet_clip_gray", arg, task="denoise", sigma=25,
                                   clip_noise=True)
