"""The study profiles (the one definition of `profile=cpu|paper` for every config) and the
data and schedule of the low-light and damage-removal configs per profile.

Not a config itself (no get_config): `lowlight_*.py`, `inpainting_cnn.py` and `studies/*.py`
check their `profile` argument with `check(profile)`; the low-light and inpainting configs call
`lowlight(c, profile)` / `inpainting(c, profile)` after setting their model.

  paper: the studies' settings (LOL at 256x256 for 100 epochs; BSDS500 holes,
         100 epochs), for a GPU/TPU (`launch/`).
  cpu:   minutes on 2 CPU cores: synthetic low-light pairs from BSDS500 train
         (LOL's 485 training pairs are not in the shared data), 64-96 px patches,
         a few hundred steps, small eval sets. Results are labelled as such.

One "epoch" is len(train split) / batch size steps; train metrics are logged
and the eval split scored once per epoch, so metrics.jsonl holds per-epoch
train and validation curves.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError, parse_arg

PROFILES = ("cpu", "paper")
# The synthetic low-light degradation (gamma, exposure, Poisson-Gaussian sensor noise).
LOW_LIGHT = "low_light(exposure=(0.08, 0.25), gamma=(1.4, 2.0))"
# Black holes: 1-3 rectangles of 10-25 % of each side (as baselines/_common.py "holes").
HOLES = "random_holes(rects=(1, 3), rect_size=(0.1, 0.25))"
LOL_TRAIN, BSDS_TRAIN = 485, 200


def check(profile: str | None) -> str:
  """`profile` ('paper' when empty), or ConfigError naming the allowed ones."""
  profile = profile or "paper"
  if profile not in PROFILES:
    raise ConfigError(f"config argument profile={profile}: use one of {', '.join(PROFILES)}.")
  return profile


def parse(arg: str | None, **defaults) -> dict:
  """A study config's argument ('model=dncnn,sigma=25,profile=cpu'; a bare 'cpu' is the
  profile) by `enhance_jax.config.parse_arg`: keys among `defaults` and `profile`
  (default 'paper'), values typed by the defaults, the profile checked."""
  out = parse_arg(arg, positional="profile", profile="paper", **defaults)
  out["profile"] = check(out["profile"])
  return out


def _schedule(c: ml_collections.ConfigDict, train_images: int, epochs: int) -> None:
  per_epoch = max(1, round(train_images / c.train.batch_size))
  c.train.num_steps = per_epoch * epochs
  c.train.log_every = per_epoch
  c.train.eval_every = per_epoch
  c.train.checkpoint_every = per_epoch * max(1, epochs // 10)


# Data per profile: (data.* keys, training images, epochs). "eval" sizes: full images for the
# paper, 8 val crops of 128 px for cpu runs.
_FULL_EVAL = dict(eval_max_size=0, max_eval_images=0)
_CPU_EVAL = dict(eval_max_size=128, max_eval_images=8)
_LOWLIGHT = {
    "paper": (dict(name="lol", degrade="", train_split="train", eval_split="test",
                   patch_size=256, **_FULL_EVAL), LOL_TRAIN, 100),
    "cpu": (dict(name="bsds500", degrade=LOW_LIGHT, train_split="train", eval_split="val",
                 patch_size=64, **_CPU_EVAL), BSDS_TRAIN, 10),
}
_INPAINTING = {
    "paper": (dict(eval_split="test", patch_size=256, **_FULL_EVAL), BSDS_TRAIN, 100),
    "cpu": (dict(eval_split="val", patch_size=96, **_CPU_EVAL), BSDS_TRAIN, 12),
}


def _data(c: ml_collections.ConfigDict, table: dict, profile: str | None,
          **common) -> ml_collections.ConfigDict:
  data, images, epochs = table[check(profile)]
  c.data.kwargs = ml_collections.ConfigDict()
  for key, value in {"channels": 3, "augment": True, **common, **data}.items():
    c.data[key] = value
  c.train.batch_size = 8
  _schedule(c, images, epochs)
  return c


def lowlight(c: ml_collections.ConfigDict, profile: str | None = "paper") -> ml_collections.ConfigDict:
  """paper: LOL our485 -> eval15, 256x256 crops, batch 8, 100 epochs.
  cpu: BSDS500 train + LOW_LIGHT, 64 px, batch 8, 10 epochs (250 steps),
  validation on 8 BSDS500 val crops of 128 px."""
  return _data(c, _LOWLIGHT, profile)


def inpainting(c: ml_collections.ConfigDict, profile: str | None = "paper") -> ml_collections.ConfigDict:
  """BSDS500 train -> test with HOLES. paper: 256 px crops, batch 8, 100 epochs,
  full test images. cpu: 96 px, batch 8, 12 epochs (300 steps), validation on 8
  BSDS500 val crops of 128 px."""
  return _data(c, _INPAINTING, profile, name="bsds500", degrade=HOLES, train_split="train")
