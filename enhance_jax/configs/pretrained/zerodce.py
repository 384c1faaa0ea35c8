"""Zero-DCE (official Epoch99.pth) on LOL eval pairs (only pair 778 is complete in the
shared data). No LOL number is published by the authors: the score is informational.
"""
from __future__ import annotations

from enhance_jax.configs.pretrained import _common


def get_config(arg=None):
  return _common.pretrained_config("zerodce", arg, task="lowlight")
