"""enhance_jax: train, evaluate and apply image enhancement models in JAX.

Images are NHWC float32 in [0, 1] unless a docstring says otherwise.
"""
from enhance_jax import xla_flags as _xla_flags

_xla_flags.apply_defaults()

__version__ = "0.1.0"
