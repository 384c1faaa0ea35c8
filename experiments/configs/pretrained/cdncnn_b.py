"""CDnCNN-B (blind color) on CBSD68, default σ=25.
Published 33.89 / 31.23 / 29.58 / 27.92 / 24.47 (σ 15/25/35/50/75).
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("cdncnn_b", arg, task="denoise", sigma=25)
