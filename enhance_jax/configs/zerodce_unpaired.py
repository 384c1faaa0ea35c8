"""Zero-DCE trained without references on the unpaired low-light images DICM + LIME.

  python -m enhance_jax.train --config=zerodce_unpaired:profile=cpu --workdir=runs/zerodce_cpu

Model `zerodce` (79,416 parameters); loss "zero_dce" (training/zero_reference.py):
200 L_tvA + L_spa + 5 L_col + 10 L_exp (E = 0.6, 16x16 patches), which needs only the
low-light input and the curve maps, so the dataset's images are the inputs and no
target is read. Optimiser as the official lowlight_train.py: Adam lr 1e-4, weight
decay 1e-4 (L2 added to the gradient, as torch's Adam), gradient clipping at norm
0.1, batch 8.

Data: `image_folder` over the shared DICM (64) and LIME (9 of 10) folders, random
crops (the official loader resizes each image to 256x256 instead), no augmentation.
Profiles:
  paper: 256 px crops, 200 epochs of the 73 images (2,000 steps of batch 8).
  cpu:   128 px crops, 300 steps at lr 1e-3 (10x the official rate, so that a run of
         minutes on 2 CPU cores moves the curves at all).
Kernels start from N(0, 0.02) as in the official code (biases at 0, not torch's
uniform); the training images are DICM/LIME, not SICE part 1 (2,422 multi-exposure
images) as in the paper.

Scored on `lol778` (LOL eval15 pair 778, the only complete LOL pair in the shared
data: PSNR/SSIM on RGB, output rounded to uint8). The no-reference statistics on the
unpaired images are in experiments/zerodce_unpaired.py (experiments/results/zerodce.md).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config, parse_arg
from enhance_jax.data.paths import shared_subdir

UNPAIRED = ("DICM", "LIME")
TRAIN_IMAGES = 73
PROFILES = {"paper": dict(patch=256, epochs=200, lr=1e-4),
            "cpu": dict(patch=128, steps=300, lr=1e-3)}


def unpaired_dirs() -> list[str]:
  """The shared DICM and LIME folders."""
  return [str(shared_subdir("lowlight_unpaired", d)) for d in UNPAIRED]


def get_config(arg=None):
  opts = parse_arg(arg, "profile", profile="paper")
  if opts["profile"] not in PROFILES:
    raise ValueError(f"zerodce_unpaired: profile={opts['profile']!r}: use paper or cpu.")
  p = PROFILES[opts["profile"]]
  c = base_config()
  c.model.name = "zerodce"
  c.model.kwargs = ml_collections.ConfigDict(dict(features=32, iterations=8, init_std=0.02))

  c.data.name = "image_folder"
  c.data.kwargs = ml_collections.ConfigDict(dict(target_dir=unpaired_dirs()))
  c.data.channels = 3
  c.data.patch_size = p["patch"]
  c.data.degrade = ""                # the images are the low-light inputs
  c.data.augment = False
  c.data.train_split = "train"

  c.loss = "zero_dce"
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = p["lr"]
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.weight_decay = 1e-4
  c.optimizer.grad_clip_norm = 0.1

  c.train.batch_size = 8
  per_epoch = -(-TRAIN_IMAGES // c.train.batch_size)
  c.train.num_steps = p.get("steps") or per_epoch * p["epochs"]
  c.train.log_every = 25
  c.train.eval_every = c.train.num_steps
  c.train.checkpoint_every = max(25, c.train.num_steps // 4)
  c.train.ema_decay = 0.0            # the official code keeps no EMA

  c.eval.use_ema = False
  c.eval.round_uint8 = True
  c.eval.y_channel = False
  c.eval.crop_border = 0
  c.eval.grid_images = 1
  c.evals = ml_collections.ConfigDict({
      "lol778": dict(data=dict(name="lol", kwargs=dict(allow_partial=True), degrade="",
                               eval_split="test", eval_max_size=0, max_eval_images=0,
                               channels=3, augment=False)),
  })
  return c
