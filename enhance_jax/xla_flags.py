"""XLA flags the package sets when the user has not set them.

Must run before JAX initialises its backend, so `enhance_jax/__init__.py`
calls `apply_defaults()` on import; importing enhance_jax after JAX has run a
computation leaves the flags unset (a warning says so).
"""
from __future__ import annotations

import os
import sys
import warnings

# Measured on CPU, see BENCHMARKS.md:
# - the default routes weight-gradient convolutions to a slow YNNPACK kernel;
#   excluding individual convolutions from YNN fusion made a DnCNN train step
#   2.2x faster;
# - 512-bit vectors for the code XLA generates itself (normalisation,
#   activations, optimizer) made a DnCNN step 1.2x faster on AVX-512; LLVM caps
#   the width at what the CPU has, so AVX2 machines are unaffected.
CPU_DEFAULTS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
                "--xla_cpu_prefer_vector_width=512")


def _backend_initialised() -> bool:
  bridge = sys.modules.get("jax._src.xla_bridge")
  return bool(getattr(bridge, "_backends", None))


def apply_defaults() -> None:
  """Appends each default flag whose name is absent from XLA_FLAGS."""
  if os.environ.get("ENHANCE_JAX_NO_DEFAULT_XLA_FLAGS"):
    return
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
