"""Histogram equalisation of V on the LOL test pairs."""
from __future__ import annotations

from enhance_jax.config import sibling_module

_common = sibling_module(__file__, "_common")


def get_config(arg=None):
  return _common.baseline_config("lowlight_hist_eq", {}, task="lowlight", arg=arg)
