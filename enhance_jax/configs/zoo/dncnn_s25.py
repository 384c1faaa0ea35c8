"""Zoo DnCNN-S σ=25: trained here on Train400, scored on BSD68 and Set12 at σ=25.

  --config=zoo/dncnn_s25                 # the card's weights (evaluate / enhance)
  --config=zoo/dncnn_s25:init=random     # the 2-core CPU run of the card (about 90 min)
  --config=zoo/dncnn_s25:profile=paper   # the paper's budget (80,000 steps of 128), a GPU

The model is the paper's DnCNN-S (17 layers of 64 channels, batch norm, residual output;
556,032 parameters), its kernels initialised as Flax's default x 0.0125 (`init_gain`).
Recipe: 40x40 gray Train400 patches (random crops with flips and rotations each step)
with AWGN σ=25 (not clipped), MSE, Adam 1e-3 with 100 warm-up steps, then a cosine to 1e-5, no gradient clipping, no EMA. The `cpu` profile fits the run in 90
minutes of wall time on 2 CPU cores (batch 32; 1.1 steps/s there) and keeps a checkpoint
every 250 steps so the card can score the model after 10, 30, 60 and 90 minutes.
`init_checkpoint` is `zoo/dncnn_s25/variables` (the card's weights), which `evaluate` and
`enhance` apply; `:init=random` (as the card's training command) starts from random init.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.configs.studies import _common
from enhance_jax.configs.zoo import _zoo

NAME = "dncnn_s25"
# Flax's default kernels (LeCun normal) x 0.0125: the net starts at the identity map, and
# Adam's steps are large next to the small kernels. experiments/dncnn_init.py compares inits
# (results/dncnn_init.md); a first probe (400 steps of 8, BSD68's first 12 images) gave
# 23.03 dB with gain 1, 25.54 with PyTorch's default, 27.82 with KAIR's, 28.28 with 0.0125.
INIT_GAIN = 0.0125
PROFILE = {
    "cpu": dict(batch=32, steps=5_000, checkpoint_every=250, workers=0),
    "paper": dict(batch=128, steps=80_000, checkpoint_every=5_000, workers=8),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _zoo.parse(arg)
  p = PROFILE[a["profile"]]
  c = _common.train400_denoiser("dncnn", dict(init_gain=INIT_GAIN), 25, steps=p["steps"],
                                batch=p["batch"], patch=40, lr=1e-3, log_every=50,
                                eval_images=0)
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_steps = 100
  c.optimizer.end_lr_factor = 0.01
  c.optimizer.grad_clip_norm = 0.0
  c.evals.set12_s25 = ml_collections.ConfigDict(_common.bsd68(25, 0))
  c.evals.set12_s25.data.name = "set12"
  c.train.checkpoint_every = p["checkpoint_every"]
  c.train.keep_checkpoints = p["steps"] // p["checkpoint_every"] + 1
  c.data.num_workers = p["workers"]
  c.data.prefetch = 4
  c.init_checkpoint = _zoo.weights(NAME) if a["init"] == "zoo" else ""
  return c
