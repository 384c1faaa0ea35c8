"""Damage removal: a CNN that fills random black holes in BSDS500 images.

cnn_enhancement_lowlight_inpainting.txt, Task 3 (damaged images made by
blacking out areas of BSDS500 photos; train split for training, test split
for evaluation). The network is a U-Net predicting a residual (the hole
contents; elsewhere ~0), L1 loss (+0*mse logs the train MSE), Adam 1e-3; it
sees only the damaged image (holes are black), like the study. cpu profile:
8 base features, 3 levels, 96 px patches (see _profiles.py).
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
      features=32, depth=4, out_channels=3, residual=True))
  c.loss = "l1+0*mse"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_steps = 20
  c.train.ema_decay = 0.99
  _profiles.inpainting(c, profile)
  if profile == "cpu":
    c.model.kwargs.features, c.model.kwargs.depth = 8, 3
    c.train.ema_decay = 0.9
  return c
