"""OpenCV Navier-Stokes inpainting of random black holes, BSDS500 test."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("inpaint_ns", dict(radius=3.0), task="holes", arg=arg)
