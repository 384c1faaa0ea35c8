"""Gaussian smoothing (std 1 px) on BSD68 σ=25."""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_baseline_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.baseline_config("gaussian_filter", dict(sigma=1.0), task="denoise", arg=arg)
