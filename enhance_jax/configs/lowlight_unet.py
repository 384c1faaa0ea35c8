"""Low-light study: the U-Net-like CNN autoencoder (d1..d5 / u1..u5, concat skips).

lowlight_mirnet_cnn_gan.txt, section III.B: five down-sampling conv blocks, five
transposed-conv up-sampling blocks each concatenated with its down block, a
final conv. Trained like the plain CNN (Adam 1e-3, MSE). cpu profile: 8 base
features, 3 levels (see _profiles.py).
"""
from __future__ import annotations


import ml_collections

from enhance_jax.config import base_config

from enhance_jax.configs import _profiles


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  profile = _profiles.parse(arg)["profile"]  # "cpu", "profile=cpu" or "paper"
  c = base_config()
  c.model.name = "unet"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=32, depth=5, out_channels=3, residual=False))
  c.loss = "mse"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.grad_clip_norm = 0.0
  c.train.ema_decay = 0.0
  _profiles.lowlight(c, profile)
  if profile == "cpu":
    c.model.kwargs.features, c.model.kwargs.depth = 8, 3
  return c
