"""MATLAB bicubic x4 on Set5 (Y, 4 px shaved). Published 28.42 dB."""
from __future__ import annotations

from enhance_jax.configs.baselines import _common


def get_config(arg=None):
  return _common.baseline_config("bicubic_up", {}, task="sr", arg=arg)
