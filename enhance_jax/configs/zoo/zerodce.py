"""Zoo Zero-DCE: trained here without references on the unpaired low-light photos (DICM + LIME).

  --config=zoo/zerodce                   # the card's weights (evaluate / enhance)
  --config=zoo/zerodce:init=random       # the 2-core CPU run of the card (about 40 min)
  --config=zoo/zerodce:profile=paper     # the official recipe's rate (lr 1e-4), for an accelerator

The model is the paper's DCE-Net (7 convs of 32 channels with symmetric skips, 8 curve
iterations; 79,416 parameters), kernels from N(0, 0.02) as in the official code. Training is
`zerodce_unpaired` (enhance_jax/configs/zerodce_unpaired.py): the zero-reference loss
200 L_tvA + L_spa + 5 L_col + 10 L_exp (E = 0.6), Adam with weight decay 1e-4, gradient
clipping at norm 0.1, batch 8 of 256 px random crops of the 73 DICM + LIME images (the
official loader resizes to 256x256; the paper trains on SICE part 1, not in the shared data),
2,000 steps (200 epochs of the 73 images, the official epoch count). No target is ever read.
The `cpu` profile's rate is 1e-3 with 50 warm-up steps and a cosine to 1e-5: the official
constant 1e-4 is set for 200 epochs of 2,422 images, 30x our steps (zerodce_unpaired's
300-step cpu profile takes 1e-3 for that reason; 1e-4 over 2,000 steps was not tried here);
`paper` keeps the official constant 1e-4. About 0.9 steps/s on the 2 cores (the card's run:
39 minutes); a checkpoint every 200 steps (all kept) for the card's quality-per-minute table.

Evaluation sets: the low-light study's own (studies/lowlight.test_sets):
  lol778     LOL eval15 pair 778, the only complete LOL pair in the shared data (RGB, whole
             600x400 image, output rounded to uint8): the card's benchmark. Zero-DCE is not
             trained for LOL's exposure targets; the PSNR says how close the zero-reference
             result lands to LOL's reference, as for the official weights (13.85 dB);
  synthetic  24 BSDS500 test centre crops of 256 px with the synthetic low-light degradation.
(ConfigDict orders keys by name and the card's benchmark is the first set.)
"""
from __future__ import annotations

import ml_collections

from enhance_jax.configs import zerodce_unpaired
from enhance_jax.configs.studies import lowlight
from enhance_jax.configs.zoo import _zoo

NAME = "zerodce"
PROFILE = {
    "cpu": dict(lr=1e-3, schedule="warmup_cosine", checkpoint_every=200),
    "paper": dict(lr=1e-4, schedule="constant", checkpoint_every=200),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _zoo.parse(arg)
  p = PROFILE[a["profile"]]
  c = zerodce_unpaired.get_config("profile=paper")  # 256 px crops, 200 epochs = 2,000 steps
  c.optimizer.learning_rate = p["lr"]
  c.optimizer.schedule = p["schedule"]
  c.optimizer.warmup_steps = 50 if p["schedule"] == "warmup_cosine" else 0
  c.optimizer.end_lr_factor = 0.01
  c.train.log_every = 25
  c.train.checkpoint_every = p["checkpoint_every"]
  c.train.keep_checkpoints = c.train.num_steps // p["checkpoint_every"] + 1
  c.train.eval_every = c.train.num_steps
  c.evals = ml_collections.ConfigDict(lowlight.test_sets("cpu"))  # the study's own sets
  c.init_checkpoint = _zoo.weights(NAME) if a["init"] == "zoo" else ""
  return c
