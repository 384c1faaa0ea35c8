"""SRCNN 9-5-5 (ImageNet) x3 on Set5, Y channel, 3 px shaved.
Published (TPAMI 2016) 32.75 (bicubic 30.39) dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("srcnn_955_x3", arg, task="sr", scale=3)
