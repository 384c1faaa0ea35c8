"""Zero-DCE (official Epoch99.pth) on LOL eval pairs (only pair 778 is complete in the
shared data). No LOL number is published by the authors: the score is informational.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("zerodce", arg, task="lowlight")
