"""SR GAN (x4): a sub-pixel residual generator and the SRGAN discriminator.

Generator: `subpixel_sr` (residual blocks, pixel shuffle) on the bicubic LR
image; discriminator: `srgan_disc` on HR images (unconditional: the LR input
has another size). G loss = L1 pixel loss + 1e-3 x adversarial (+ 6e-3 x VGG19
relu5_4 perceptual loss when --config.gan.vgg_weights points to VGG19 weights,
see metrics/vgg.py; without them the run says so and trains without it).

Data: the embedded photos by default; `--config.data.name=div2k` for DIV2K.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config


def get_config():
  c = base_config()
  scale = 4
  c.model.name = "subpixel_sr"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      scale=scale, features=64, num_blocks=8, upsample_skip=True))

  c.data.name = "embedded"
  c.data.patch_size = 96             # HR patch; the LR input is 24x24
  c.data.degrade = f"bicubic_down(scale={scale})"
  c.data.eval_max_size = 256

  c.loss = "l1"
  c.optimizer.learning_rate = 1e-4
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.b1 = 0.9
  c.optimizer.grad_clip_norm = 0.0

  c.task = "gan"
  c.gan.disc.name = "srgan_disc"
  c.gan.disc.kwargs = ml_collections.ConfigDict(dict(features=64, n_blocks=8, dense=1024))
  c.gan.conditional = False          # LR input and HR output differ in size
  c.gan.loss = "bce"
  c.gan.adv_weight = 1e-3            # SRGAN
  c.gan.d_steps = 1
  c.gan.perceptual_weight = 6e-3     # active only when vgg_weights loads
  c.gan.vgg_weights = ""
  c.gan.vgg_depth = 19
  c.gan.perceptual_layers = ("relu5_4",)
  c.gan.optimizer.learning_rate = 1e-4
  c.gan.optimizer.b1 = 0.9

  c.train.batch_size = 16
  c.train.num_steps = 2000
  c.train.log_every = 50
  c.train.eval_every = 500
  c.train.checkpoint_every = 500

  c.eval.y_channel = True            # SR convention: PSNR/SSIM on Y, border = scale
  c.eval.crop_border = scale
  c.eval.ssim_threshold = 0.0
  c.eval.fid_weights = ""
  return c
