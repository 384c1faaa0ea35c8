"""BM3D (both stages, bm3d package) on BSD68 σ=25, noise not clipped. Published 28.57 dB."""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_baseline_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.baseline_config("bm3d", {}, task="denoise", arg=arg)
