"""FFDNet color on CBSD68, default σ=25.
Published 33.87 / 31.21 / 29.58 / 27.96 / 26.24 (σ 15/25/35/50/75).
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("ffdnet_color", arg, task="denoise", sigma=25)
