"""DnCNN-S initialisation study (experiments/dncnn_init.py): why training from Flax's default
init starts slowly, and which initial scale the zoo recipe uses (issue 17).

  --config=studies/dncnn_init:init=gain0.0125,profile=cpu

Every row is the zoo recipe of `zoo/dncnn_s25` (DnCNN-S 17x64 with BN, Train400 40x40
patches, AWGN σ=25, MSE, Adam 1e-3 with 100 warm-up steps then a cosine to 1e-5) with one
change: the initial weights. Rows (`init=`):
  flax       Flax's default: LeCun normal kernels (std 1/sqrt(fan_in)), BN scale 1;
  he         He normal (std sqrt(2/fan_in)), the DnCNN paper's;
  torch      PyTorch's Conv2d default, U(+-1/sqrt(fan_in)) (std 1/sqrt(3 fan_in));
  kair       KAIR's DnCNN recipe: orthogonal kernels x 0.2, BN scale U(0.1, 1);
  gainG      LeCun normal x G (G = 0.2, 0.05, 0.0125; 0.0125 is the zoo recipe's).
The last conv has no BN after it: with Flax's default it starts predicting "noise" of std
about 1; small kernels start the net at the identity map (below gain ~0.05 the BN inputs'
variance is under BN's epsilon, so nothing renormalises the small activations back up), and
Adam's steps, about the learning rate whatever a weight's size, are large next to them.
Profiles:
  cpu:   400 steps of batch 8 (2 min each on 2 CPU cores), the first 12 BSD68 images;
  paper: 2,000 steps of batch 128, all 68 images.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.zoo import dncnn_s25

# init: DnCNN model kwargs (kernel_init, init_gain, norm_scale_init).
INITS = {
    "flax": dict(init_gain=1.0),
    "he": dict(kernel_init="he_normal", init_gain=1.0),
    "torch": dict(kernel_init="torch", init_gain=1.0),
    "kair": dict(kernel_init="orthogonal", init_gain=0.2, norm_scale_init="uniform"),
    "gain0.2": dict(init_gain=0.2),
    "gain0.05": dict(init_gain=0.05),
    "gain0.0125": dict(init_gain=0.0125),
}
PROFILE = {
    "cpu": dict(steps=400, batch=8, eval_images=12),
    "paper": dict(steps=2_000, batch=128, eval_images=0),
}


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return [f"init={name}" for name in INITS]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, init="gain0.0125")
  if a["init"] not in INITS:
    raise ConfigError(f"config argument init={a['init']}: use one of {', '.join(INITS)}.")
  p = PROFILE[a["profile"]]
  c = dncnn_s25.get_config("init=random")
  c.model.kwargs = ml_collections.ConfigDict(INITS[a["init"]])
  c.train.num_steps = p["steps"]
  c.train.batch_size = p["batch"]
  c.train.log_every = 25
  c.train.eval_every = p["steps"]
  c.train.checkpoint_every = p["steps"]
  c.train.keep_checkpoints = 1
  c.data.num_workers = 0
  del c.evals["set12_s25"]
  c.evals.bsd68_s25.data.max_eval_images = p["eval_images"]
  return c
