"""SRCNN 9-1-5 (91 images) x3 on Set5, Y channel, 3 px shaved.
No published Set5 number stored for this variant.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("srcnn_915_91_x3", arg, task="sr", scale=3)
