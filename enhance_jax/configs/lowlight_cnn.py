"""Low-light study: the plain CNN (Adam 1e-3, MSE, ~100 epochs on LOL).

cnn_enhancement_lowlight_inpainting.txt, Task 1. A stack of 3x3 conv + ReLU
mapping the low-light image to the normal-light one (no residual). Profiles
(`--config=lowlight_cnn:cpu`): see _profiles.py; cpu uses
16 features x 6 layers.
"""
from __future__ import annotations


import ml_collections

from enhance_jax.config import base_config

from enhance_jax.configs import _profiles


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  profile = _profiles.parse(arg)["profile"]  # "cpu", "profile=cpu" or "paper"
  c = base_config()
  c.model.name = "cnn"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=64, depth=8, out_channels=3, residual=False))
  c.loss = "mse"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.grad_clip_norm = 0.0
  c.train.ema_decay = 0.0            # plain Keras-style training
  _profiles.lowlight(c, profile)
  if profile == "cpu":
    c.model.kwargs.features, c.model.kwargs.depth = 16, 6
  return c
