"""XLA flags the package sets when the user has not set them.

Must run before JAX initialises its backend, so `enhance_jax/__init__.py`
calls `apply_defaults()` on import.
"""
import os

# On CPU the default routes weight-gradient convolutions to a slow YNNPACK
# kernel; excluding individual convolutions from YNN fusion made a DnCNN train
# step 2.2x faster here (see BENCHMARKS.md).
CPU_DEFAULTS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)


def apply_defaults() -> None:
  """Appends each default flag whose name is absent from XLA_FLAGS."""
  if os.environ.get("ENHANCE_JAX_NO_DEFAULT_XLA_FLAGS"):
    return
  current = os.environ.get("XLA_FLAGS", "")
  names = {f.split("=")[0] for f in current.split()}
  extra = [f for f in CPU_DEFAULTS if f.split("=")[0] not in names]
  if extra:
    os.environ["XLA_FLAGS"] = " ".join([current, *extra]).strip()
