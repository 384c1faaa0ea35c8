"""SaoYan PyTorch DnCNN-B (BatchNorm) on BSD68, default σ=25. Their README: 31.60 / 29.15 / 26.20.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("dncnn_saoyan_b", arg, task="denoise", sigma=25)
