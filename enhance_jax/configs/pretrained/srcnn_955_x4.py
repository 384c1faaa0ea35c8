"""SRCNN 9-5-5 (ImageNet) x4 on Set5, Y channel, 4 px shaved.
Published (TPAMI 2016) 30.49 (bicubic 28.42) dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("srcnn_955_x4", arg, task="sr", scale=4)
