"""NLRN (Liu et al., NeurIPS 2018) trained on BSD400 at the authors' recipe, scored on BSD68.

  --config=nlrn_bsd400:sigma=25                  # the recipe (an accelerator)
  --config=nlrn_bsd400:sigma=25,profile=cpu      # a few tiny steps (dry runs, tests)

Recipe, from the authors' released code (github.com/Ding-Liu/NLRN: models/nlrn.py,
datasets/denoise.py; the paper's BSD68 numbers are 31.88 / 29.41 / 26.47 dB at σ = 15 / 25 / 50):
  - model: NLRN's defaults (128 features, 12 recurrent steps, 64 inter channels, correlation
    propagation; global attention inside each 43x43 training patch; at test time overlapping
    43x43 patches every 7 px, averaged; outputs clipped to [0, 1] at inference).
  - data: 400 BSD images (our `train400`: DnCNN's Train400, 400 BSD images as 180x180 gray
    crops; the authors crop from the full-size BSD500 train+test images), random 43x43 crops,
    flips and 90-degree rotations, AWGN σ/255 not clipped; batch 16.
  - loss: MSE on the central 5x5 pixels of each patch, [0, 1] scale (`mse_center5`).
  - Adam (1e-3), halved at 100k, 200k, 300k, 400k and 450k of 500k steps (1e-3 ... 3.125e-5).
  - gradient clipping: each gradient array's norm alone clipped at 2.5 (tf.clip_by_norm per
    variable; optimizer.grad_clip_per_tensor).
Arguments (after ':'): sigma = 15 | 25 | 50; profile = paper | cpu.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.studies import _common

RECIPE_STEPS = 500_000
PROFILE = {
    "paper": dict(model=dict(features=128, steps=12, inter_channels=64), batch=16,
                  steps=RECIPE_STEPS, eval_images=0),
    # A few steps of a tiny net; test patches of 43 every 36 px, 8 per forward pass, keep the
    # CPU run short and small (4 steps + one BSD68 image: 30 s, 1.2 GB peak here).
    "cpu": dict(model=dict(features=8, steps=2, inter_channels=4, test_stride=36, test_batch=8),
                batch=2, steps=4, eval_images=1),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, sigma=25)
  sigma, p = a["sigma"], PROFILE[a["profile"]]
  if sigma not in (15, 25, 50):
    raise ConfigError(f"config argument sigma={sigma}: the paper trains σ = 15, 25, 50.")
  model = {**dict(window=None, test_patch=43, test_stride=7, propagate_corr=True,
                  clip_output=True), **p["model"]}
  steps = p["steps"]
  c = _common.train400_denoiser("nlrn", model, sigma, steps=steps, batch=p["batch"], patch=43,
                                lr=1e-3, log_every=max(1, min(1000, steps // 20)),
                                eval_images=p["eval_images"], loss="mse_center5")
  c.data.augment = True
  c.optimizer.name = "adam"
  c.optimizer.schedule = "step"
  c.optimizer.warmup_steps = 0
  c.optimizer.boundaries = (0.2, 0.4, 0.6, 0.8, 0.9)   # x0.5 at 100k, ..., 450k of 500k
  c.optimizer.grad_clip_norm = 2.5
  c.optimizer.grad_clip_per_tensor = True
  c.train.checkpoint_every = max(1, min(steps, 20_000))  # the authors save every 20k steps
  return c
