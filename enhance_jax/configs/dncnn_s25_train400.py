"""DnCNN-S σ=25 trained on Train400 at the paper's recipe, scored on BSD68 σ=25.

  --config=dncnn_s25_train400                         # the recipe (an accelerator)
  --config=dncnn_s25_train400:profile=cpu             # a few tiny steps (dry runs, tests)
  --config=dncnn_s25_train400:steps=30000,dtype=bfloat16,workers=8

Recipe (Zhang et al., TIP 2017, DnCNN-S; the authors' released training code): 17 layers of
64 channels with batch norm and a residual output, 40x40 gray patches of Train400 (400
images of 180x180, flips and rotations) with AWGN σ=25 (not clipped), batch 128, MSE loss,
Adam, 1,600 steps per "epoch" (128 x 1,600 patches) for 50 epochs = 80,000 steps, learning
rate 1e-3 falling to 1e-4. Deviations: the rate falls along a cosine from 1e-3 to 1e-4 over
the run (the released code steps it down once, after 30 of 50 epochs), and patches are
random crops drawn each step rather than a fixed set cut once. Published: 29.23 dB.

Arguments (after ':'): profile = paper | cpu; steps (0 = the recipe's 80,000; fewer
compresses the same schedule into them, e.g. for a time budget); dtype = float32 |
bfloat16 (compute; parameters and loss stay float32); workers (loader processes);
eval_images (0 = all 68).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.configs import _profiles
from enhance_jax.configs.studies import _common

RECIPE_STEPS = 80_000          # 50 epochs x 1,600 steps of 128 patches
PROFILE = {
    "paper": dict(model=dict(depth=17, features=64), batch=128, steps=RECIPE_STEPS,
                  eval_images=0, workers=8),
    "cpu": dict(model=dict(depth=4, features=16), batch=8, steps=6, eval_images=2, workers=0),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, steps=0, dtype="float32", workers=-1, eval_images=-1)
  p = PROFILE[a["profile"]]
  steps = a["steps"] or p["steps"]
  eval_images = p["eval_images"] if a["eval_images"] < 0 else a["eval_images"]
  c = _common.train400_denoiser("dncnn", p["model"], 25, steps=steps, batch=p["batch"],
                                patch=40, lr=1e-3, log_every=max(1, min(500, steps // 20)),
                                eval_images=eval_images)
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_steps = 0
  c.optimizer.end_lr_factor = 0.1      # 1e-3 -> 1e-4
  c.optimizer.grad_clip_norm = 0.0     # the recipe clips nothing
  c.train.dtype = a["dtype"]
  c.train.keep_checkpoints = 1
  c.train.checkpoint_every = max(1, min(steps, 5_000))
  c.data.num_workers = p["workers"] if a["workers"] < 0 else a["workers"]
  c.data.prefetch = 4
  return c
