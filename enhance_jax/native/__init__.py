"""Native CPU kernels: oneDNN convolutions through the XLA FFI (`onednn_conv.cc`).

The extension is compiled at install (setup.py) when a C++ compiler and the
`onednn-devel-cpu-gomp` headers are there; without it everything runs on XLA's
own convolutions. `onednn_status()` says which, and why:

    ("onednn", "oneDNN 3.2.0, <path of the extension>")
    ("xla", "<why the extension is not used>")

ENHANCE_JAX_NO_ONEDNN=1 (read at import) turns the extension off.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.machinery
import importlib.metadata
import os
import sys

_HANDLERS = ("enhance_onednn_conv_fwd", "enhance_onednn_conv_bwd_data",
             "enhance_onednn_conv_bwd_weights", "enhance_onednn_conv_fwd_bias",
             "enhance_onednn_conv_bwd_data_bias", "enhance_onednn_conv_concat_fwd_bias")
_DIR = os.path.dirname(os.path.abspath(__file__))
_state: tuple[str, str] | None = None


def _extension_path() -> str | None:
  for suffix in importlib.machinery.EXTENSION_SUFFIXES:
    hits = sorted(glob.glob(os.path.join(_DIR, "_onednn_conv" + suffix)))
    if hits:
      return hits[0]
  return None


def _libdnnl_candidates() -> list[str]:
  """Where the `onednn-cpu-gomp` wheel put libdnnl.so.3 (its data files go to <prefix>/lib)."""
  found = []
  for dist in ("onednn-cpu-gomp", "onednn"):
    try:
      files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError:
      continue
    found += [str(f.locate()) for f in files if f.name == "libdnnl.so.3"]
  found += [os.path.join(p, "lib", "libdnnl.so.3") for p in (sys.prefix, sys.base_prefix)]
  return [f for f in found if os.path.exists(f)]


def _load() -> tuple[str, str]:
  if os.environ.get("ENHANCE_JAX_NO_ONEDNN", "") not in ("", "0"):
    return "xla", "ENHANCE_JAX_NO_ONEDNN is set"
  ext = _extension_path()
  if ext is None:
    return "xla", ("the oneDNN extension was not built at install (no C++ compiler or no "
                   "onednn-devel-cpu-gomp headers then)")
  # The extension links libdnnl.so.3 by soname; load the wheel's copy first, so
  # that it resolves wherever the package is installed (editable or not).
  for lib in _libdnnl_candidates():
    try:
      ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
      break
    except OSError:
      continue
  try:
    so = ctypes.CDLL(ext)
  except OSError as e:
    return "xla", f"the oneDNN extension {ext} does not load: {e}"
  import jax  # pylint: disable=g-import-not-at-top
  for name in _HANDLERS:
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(so, name)), platform="cpu")
  v = so.enhance_onednn_version()
  return "onednn", f"oneDNN {v // 10000}.{v // 100 % 100}.{v % 100}, {ext}"


def set_threading(mode: str) -> None:
  """"split" (default: batch slices on XLA's intra-op pool where that pays) or "omp" (one
  OpenMP team per call, sized to that pool): for benchmarks comparing the two."""
  if mode not in ("split", "omp"):
    raise ValueError(f"threading mode must be 'split' or 'omp', got {mode!r}")
  if onednn_status()[0] == "onednn":
    ctypes.CDLL(_extension_path()).enhance_onednn_set_threading(int(mode == "omp"))


def onednn_status() -> tuple[str, str]:
  """("onednn", details) when the FFI convolutions are registered, else ("xla", why not)."""
  global _state
  if _state is None:
    _state = _load()
  return _state
