"""Builds the optional oneDNN convolution extension (enhance_jax/native/onednn_conv.cc).

Everything else about the package is in pyproject.toml. The extension needs a C++17
compiler, the XLA FFI headers (shipped in jaxlib) and oneDNN's headers and library
(`onednn-devel-cpu-gomp`); pyproject.toml puts jaxlib and that package into the build
environment. When any of these is missing, or the compiler fails, the package installs
without the extension and runs XLA's convolutions (`enhance_jax.models.convolution.backend()`
says which); the build never fails the install.
"""
import importlib.metadata
import importlib.util
import os
import sys
import time

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_SOURCE = "enhance_jax/native/onednn_conv.cc"


def _warn(msg: str) -> None:
  print(f"enhance_jax: {msg}", file=sys.stderr, flush=True)


def _dist_file(dist: str, name: str) -> str | None:
  """The installed path of file `name` (a path suffix) of distribution `dist`, or None."""
  try:
    files = importlib.metadata.files(dist) or []
  except importlib.metadata.PackageNotFoundError:
    return None
  for f in files:
    if ("/" + str(f).replace("\\", "/")).endswith("/" + name):
      path = os.path.normpath(str(f.locate()))
      if os.path.exists(path):
        return path
  return None


def _locate() -> tuple[list[str], list[str]] | str:
  """(include dirs, library dirs) for the extension, or why it cannot be built."""
  spec = importlib.util.find_spec("jaxlib")
  if spec is None or not spec.submodule_search_locations:
    return "jaxlib (the XLA FFI headers) is not installed in the build environment"
  ffi_inc = os.path.join(list(spec.submodule_search_locations)[0], "include")
  if not os.path.exists(os.path.join(ffi_inc, "xla", "ffi", "api", "ffi.h")):
    return f"no XLA FFI headers under {ffi_inc}"
  hpp = _dist_file("onednn-devel-cpu-gomp", "include/oneapi/dnnl/dnnl.hpp")
  lib = _dist_file("onednn-cpu-gomp", "libdnnl.so.3")
  if hpp is None or lib is None:
    return "onednn-devel-cpu-gomp (oneDNN headers and library) is not installed"
  return [ffi_inc, os.path.dirname(os.path.dirname(os.path.dirname(hpp)))], [os.path.dirname(lib)]


class OptionalBuildExt(build_ext):
  """build_ext that never fails: a missing dependency or compiler error skips the extension."""

  def build_extension(self, ext):
    found = _locate()
    if isinstance(found, str):
      _warn(f"oneDNN extension not built: {found}; using XLA's convolutions")
      return
    ext.include_dirs = found[0] + ext.include_dirs
    ext.library_dirs = found[1] + ext.library_dirs
    start = time.time()
    try:
      super().build_extension(ext)
    except Exception as e:  # pylint: disable=broad-except
      _warn(f"oneDNN extension not built ({type(e).__name__}: {e}); using XLA's convolutions")
      return
    _warn(f"oneDNN extension built in {time.time() - start:.0f} s")

  def get_outputs(self):  # only what was built (a skipped extension is no output)
    return [p for p in super().get_outputs() if os.path.exists(p)]


setup(
    ext_modules=[
        Extension(
            "enhance_jax.native._onednn_conv",
            sources=[_SOURCE],
            language="c++",
            optional=True,  # editable installs copy it into the tree only if it was built
            libraries=["dnnl"],
            # The wheel's libdnnl sits in <prefix>/lib; the extension in
            # <prefix>/lib/pythonX.Y/site-packages/enhance_jax/native. enhance_jax.native
            # also loads it by path first (editable installs, other layouts).
            runtime_library_dirs=["$ORIGIN/../../../.."],
            extra_compile_args=["-std=c++17", "-O2", "-g0", "-fopenmp", "-w"],
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
