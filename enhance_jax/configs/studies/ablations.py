"""Ablations study (experiments/ablations.py): one denoiser, one change per row, from
survey_denoising_sr_contrast_ablations.txt (skip connection, normalization, activation, loss).

  --config=studies/ablations:variant=no_skip,profile=cpu

The full model is the `cnn` model (3x3 convs) with a global skip (residual=True: it
predicts the noise, DnCNN-style), batch normalization, ReLU and MSE loss. Variants:
full, no_skip (residual=False), no_norm (normalization=None), leaky_relu, sigmoid,
ssim_loss. Each trains on Train400 with AWGN σ=25 and is scored on BSD68 σ=25
(config.evals.bsd68_s25; the same noise per image for every variant). Profiles:
  paper: depth 17, 64 channels, 100k steps of batch 32, all 68 images.
  cpu:   depth 5, 16 channels, 300 steps of batch 8, first 4 images.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.studies import _common

FULL = dict(residual=True, normalization="batch", activation="relu")
# variant: (model kwargs changed, loss)
VARIANTS = {
    "full": ({}, "mse"),
    "no_skip": (dict(residual=False), "mse"),
    "no_norm": (dict(normalization=None), "mse"),
    "leaky_relu": (dict(activation="leaky_relu"), "mse"),
    "sigmoid": (dict(activation="sigmoid"), "mse"),
    "ssim_loss": ({}, "ssim"),
}
PROFILE = {
    "cpu": dict(depth=5, features=16, steps=300, batch=8, patch=40, eval_images=4),
    "paper": dict(depth=17, features=64, steps=100_000, batch=32, patch=40, eval_images=0),
}
SIGMA = 25


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return [f"variant={v}" for v in VARIANTS]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, variant="full")
  if a["variant"] not in VARIANTS:
    raise ConfigError(f"config argument variant={a['variant']}: use one of "
                      f"{', '.join(VARIANTS)}.")
  changed, loss = VARIANTS[a["variant"]]
  p = PROFILE[a["profile"]]
  kwargs = dict(FULL, depth=p["depth"], features=p["features"], out_channels=1, **changed)
  return _common.train400_denoiser("cnn", kwargs, SIGMA, steps=p["steps"], batch=p["batch"],
                                   patch=p["patch"], lr=1e-3, log_every=max(10, p["steps"] // 30),
                                   eval_images=p["eval_images"], loss=loss)
