"""FFDNet gray trained for clipped noise, on BSD68 with clipped AWGN, default σ=25.
No published number stored.
"""
from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "_pretrained_common", pathlib.Path(__file__).with_name("_common.py"))
_common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_common)


def get_config(arg=None):
  return _common.pretrained_config("ffdnet_clip_gray", arg, task="denoise", sigma=25,
                                   clip_noise=True)
