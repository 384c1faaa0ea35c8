"""SRCNN 9-5-5 (ImageNet) x2 on Set5, Y channel, 2 px shaved.
Published (TPAMI 2016) 36.66 (bicubic 33.66) dB.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("srcnn_955_x2", arg, task="sr", scale=2)
