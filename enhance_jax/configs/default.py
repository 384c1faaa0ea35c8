"""Default run: a U-Net low-light enhancer on the embedded scikit-image photos.

`python -m enhance_jax.train` with no flags uses this file; the schema and its
defaults are in `enhance_jax/config.py`.
"""
from enhance_jax.config import base_config


def get_config():
  return base_config()
