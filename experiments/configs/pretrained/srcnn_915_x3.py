"""SRCNN 9-1-5 (ImageNet) x3 on Set5, Y channel, 3 px shaved.
No published Set5 number stored for this variant.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("srcnn_915_x3", arg, task="sr", scale=3)
