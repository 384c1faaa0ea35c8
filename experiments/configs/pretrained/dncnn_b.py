"""DnCNN-B (blind gray) on BSD68, default σ=25 (arg "sigma=15|25|50").
Published 31.61 / 29.16 / 26.23.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("dncnn_b", arg, task="denoise", sigma=25)
