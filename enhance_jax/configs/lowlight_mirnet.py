"""Low-light study: MIRNet (SKFF, DAU, recursive residual groups) on LOL.

lowlight_mirnet_cnn_gan.txt, section III.A. paper profile: the full MIRNet
(n_feat 64, 3 RRGs x 2 MRBs, 3 streams), Charbonnier loss, Adam 2e-4 with
cosine decay (MIRNet's own recipe). cpu profile: `mirnet_small` (n_feat 8,
1 RRG x 1 MRB, 2 streams) at Adam 1e-3 — a much smaller network, labelled
as such in the results. `+0*mse` only logs the train MSE (train PSNR curve).
"""
from __future__ import annotations


import ml_collections

from enhance_jax.config import base_config

from enhance_jax.configs import _profiles


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  profile = _profiles.parse(arg)["profile"]  # "cpu", "profile=cpu" or "paper"
  c = base_config()
  c.model.name = "mirnet"
  c.model.kwargs = ml_collections.ConfigDict(dict(out_channels=3))
  c.loss = "charbonnier+0*mse"
  c.optimizer.learning_rate = 2e-4
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_steps = 100
  c.optimizer.end_lr_factor = 0.005
  c.train.ema_decay = 0.999
  _profiles.lowlight(c, profile)
  if profile == "cpu":
    c.model.name = "mirnet_small"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.warmup_steps = 10
    c.train.ema_decay = 0.9
  return c
