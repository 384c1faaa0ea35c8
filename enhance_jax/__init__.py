"""enhance_jax: train, evaluate and apply image enhancement models in JAX.

Images are NHWC float32 in [0, 1] unless a docstring says otherwise.
"""
from enhance_jax import cpu_defaults as _cpu_defaults

_cpu_defaults.apply()

__version__ = "0.1.0"
