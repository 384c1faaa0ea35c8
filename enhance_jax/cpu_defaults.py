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
`ENHANCE_JAX_NO_CPU_DEFAULTS=1` turns both off. Numbers: BENCHMARKS.md.
"""
from __future__ import annotations

import ctypes
import os
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


def _backend_initialised() -> bool:
  bridge = sys.modules.get("jax._src.xla_bridge")
  return bool(getattr(bridge, "_backends", None))


def apply() -> None:
  """Applies both settings unless ENHANCE_JAX_NO_CPU_DEFAULTS is set."""
  if os.environ.get("ENHANCE_JAX_NO_CPU_DEFAULTS"):
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
