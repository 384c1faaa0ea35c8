"""SRCNN 9-1-5 (91 images) x2 on Set5, Y channel, 2 px shaved.
No published Set5 number stored for this variant.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("srcnn_915_91_x2", arg, task="sr", scale=2)
