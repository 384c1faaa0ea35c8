"""DnCNN-S σ=50 (official MatConvNet) on BSD68 σ=50. Published 26.23 dB.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("dncnn_s50", arg, task="denoise", sigma=50)
