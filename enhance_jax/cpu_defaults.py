"""Process settings the package applies on import to make CPU training fast.

1. XLA flags (`CPU_DEFAULTS`), each only when the user's XLA_FLAGS does not
   name it.
2. glibc's allocator keeps freed memory for reuse: one arena, no mmap for
   large blocks, no trimming. XLA:CPU allocates every step's temporaries
   afresh; by default glibc serves the large ones from mmap on XLA's worker
   threads and unmaps them on free, so each DnCNN step page-faulted 777 MB back
   in (200k faults, 0.37 s of kernel time). With the setting: 25k faults,
   step 1.14 s -> 0.98 s. The process keeps its peak heap instead of returning
   it to the OS.

Both must happen before JAX starts its backend and threads, so
`enhance_jax/__init__.py` calls `apply()` first thing; importing enhance_jax
after JAX has run a computation leaves the flags unset (a warning says so).

Only for CPU runs. Both settings are for XLA:CPU and are decided before any
backend exists, so `apply()` applies them only when JAX can only run on CPU in
this process (`cpu_only()`):
- JAX_PLATFORMS (or `jax_platforms`, if JAX was imported and configured first)
  names only `cpu`; any other platform in it (`cuda`, `rocm`, `tpu`, ...) means
  no; or, where it is unset,
- no accelerator is installed for JAX to pick: no JAX PJRT plugin (a module
  under the `jax_plugins` namespace or a `jax_plugins` entry point, as the CUDA
  and ROCm plugins `jax_cuda*_plugin` / `jax_rocm*_plugin` install), no
  `jax_cuda*`/`jax_rocm*` plugin package, no `libtpu`, and neither
  TPU_LIBRARY_PATH nor PJRT_NAMES_AND_LIBRARY_PATHS set.
If JAX has already initialised its backends, they decide: all CPU or not.
A machine with an accelerator plugin that runs on CPU anyway gets the settings
with JAX_PLATFORMS=cpu. `ENHANCE_JAX_NO_CPU_DEFAULTS=1` turns both off
everywhere. Numbers: BENCHMARKS.md.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import pkgutil
import re
import sys
import warnings

# - the default routes weight-gradient convolutions to a slow YNNPACK kernel;
#   excluding individual convolutions from YNN fusion made a DnCNN train step
#   2.2x faster;
# - 512-bit vectors for the code XLA generates itself (normalisation,
#   activations, optimizer) made a DnCNN step 1.2x faster on AVX-512; LLVM caps
#   the width at what the CPU has, so AVX2 machines are unaffected.
CPU_DEFAULTS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
                "--xla_cpu_prefer_vector_width=512")

# mallopt(3) parameters (glibc malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8

# Top-level packages of JAX's accelerator backends (GPU plugins, TPU runtime).
_ACCELERATOR_PACKAGES = re.compile(r"jax_(cuda|rocm)\d*_(plugin|pjrt)|libtpu(_nightly)?")


def _backends() -> dict:
  bridge = sys.modules.get("jax._src.xla_bridge")
  return getattr(bridge, "_backends", None) or {}


def _backend_initialised() -> bool:
  return bool(_backends())


def accelerator_plugins() -> list[str]:
  """Installed JAX accelerator backends: plugin modules and packages (see the module docstring)."""
  found = [m.name for m in pkgutil.iter_modules() if _ACCELERATOR_PACKAGES.fullmatch(m.name)]
  spec = importlib.util.find_spec("jax_plugins")
  if spec is not None and spec.submodule_search_locations:
    found += ["jax_plugins." + m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)]
  found += [ep.value for ep in importlib.metadata.entry_points(group="jax_plugins")]
  found += [v for v in ("TPU_LIBRARY_PATH", "PJRT_NAMES_AND_LIBRARY_PATHS") if os.environ.get(v)]
  return sorted(set(found))


def cpu_only() -> bool:
  """True when JAX can only run on CPU in this process (the rule of the module docstring)."""
  if _backend_initialised():
    return set(_backends()) <= {"cpu"}
  jax = sys.modules.get("jax")
  platforms = (jax.config.jax_platforms if jax is not None and hasattr(jax, "config")
               else os.environ.get("JAX_PLATFORMS"))
  if platforms:
    return {p.strip().lower() for p in platforms.split(",")} <= {"cpu"}
  return not accelerator_plugins()


def apply() -> None:
  """Applies both settings when `cpu_only()`, unless ENHANCE_JAX_NO_CPU_DEFAULTS is set."""
  if os.environ.get("ENHANCE_JAX_NO_CPU_DEFAULTS") or not cpu_only():
    return
  apply_xla_flags()
  keep_freed_memory()


def apply_xla_flags() -> None:
  """Appends each flag of `CPU_DEFAULTS` whose name is absent from XLA_FLAGS."""
  current = os.environ.get("XLA_FLAGS", "")
  names = {f.split("=")[0] for f in current.split()}
  extra = [f for f in CPU_DEFAULTS if f.split("=")[0] not in names]
  if not extra:
    return
  if _backend_initialised():
    warnings.warn(f"enhance_jax was imported after JAX initialised its backend, so its default "
                  f"XLA flags {extra} do not apply (CPU training is slower): import enhance_jax "
                  "before using JAX, or set XLA_FLAGS yourself.", stacklevel=3)
  os.environ["XLA_FLAGS"] = " ".join([current, *extra]).strip()


def keep_freed_memory() -> bool:
  """Sets glibc malloc to reuse freed memory (see the module docstring).

  Returns False where there is no glibc (macOS, musl): nothing to do there.
  """
  if not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"):
    return False
  try:
    libc = ctypes.CDLL("libc.so.6")
  except OSError:
    return False
  ok = libc.mallopt(_M_ARENA_MAX, 1)
  ok &= libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
  ok &= libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1)
  return bool(ok)
