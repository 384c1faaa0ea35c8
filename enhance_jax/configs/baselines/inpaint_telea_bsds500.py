"""OpenCV Telea inpainting of random black holes, BSDS500 test."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("inpaint_telea", dict(radius=3.0), task="holes", arg=arg)
