"""Low-light GAN (the low-light study's GAN, beside its CNN and MIRNet runs).

Generator: the study's U-Net (d1..d5 / u1..u5 with skips) predicting a
residual; discriminator: a conditional 70x70 PatchGAN on (low-light input,
image) pairs, LSGAN loss, L1 reconstruction.

Data: LOL pairs (`--config.data.name=lol --config.data.degrade=""` once the
485 training pairs are in the shared data); by default the embedded photos
with the synthetic low-light degradation (gamma, exposure, sensor noise).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "unet"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=32, depth=5, out_channels=3, residual=True))

  c.data.name = "embedded"           # "lol" for real pairs (then degrade = "")
  c.data.patch_size = 128
  c.data.degrade = "low_light(exposure=(0.08, 0.25), gamma=(1.4, 2.0))"
  c.data.eval_max_size = 256

  c.loss = "l1"
  c.optimizer.learning_rate = 2e-4
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.b1 = 0.5
  c.optimizer.grad_clip_norm = 0.0

  c.task = "gan"
  c.gan.disc.name = "patchgan"
  c.gan.disc.kwargs = ml_collections.ConfigDict(dict(features=64, n_layers=3,
                                                     normalization="batch"))
  c.gan.conditional = True
  c.gan.loss = "lsgan"
  c.gan.adv_weight = 0.01
  c.gan.d_steps = 1
  c.gan.real_label = (0.9, 0.9)      # one-sided label smoothing
  c.gan.optimizer.learning_rate = 2e-4

  c.train.batch_size = 8
  c.train.num_steps = 2000
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  c.eval.ssim_threshold = 0.0        # > 0 adds ssim_accuracy
  c.eval.fid_weights = ""            # FID Inception weights; empty = no FID
  return c
