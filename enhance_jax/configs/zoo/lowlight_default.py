"""Zoo default low-light model: the default job's curve net, on LOL 778 and synthetic BSDS500.

  --config=zoo/lowlight_default                  # the card's weights (evaluate / enhance)
  --config=zoo/lowlight_default:init=random      # the card's run: the default job (under a minute)
  --config=zoo/lowlight_default:profile=paper    # the same recipe at an accelerator's budget

The run is `python -m enhance_jax.train` with no flags (enhance_jax/configs/default.py): model
`curve_net` (a rational tone curve on V = max(R, G, B), 7,553 parameters; hue and saturation
kept, highlights never clipped), trained for 600 steps of batch 8 on the embedded scikit-image
photos with the synthetic low-light degradation (exposure 0.08-0.25, gamma 1.4-2.0), L1 loss,
Adam 2e-3 cosine, EMA 0.99 (the EMA weights are the card's). The default job has no paper;
the `paper` profile is the same recipe at an accelerator's budget (20,000 steps of 32).
Only the evaluation sets are added to default.py (the training is the default job's own):
  lol778     LOL eval15 pair 778, the only complete LOL pair in the shared data (RGB, whole
             600x400 image, output rounded to uint8): the card's benchmark;
  synthetic  the low-light study's synthetic set (24 BSDS500 test centre crops of 256 px with
             the same degradation as training, seed fixed): experiments/results/lowlight.md.
(ConfigDict orders keys by name and the card's benchmark is the first set.)
"""
from __future__ import annotations

import ml_collections

from enhance_jax.configs import default
from enhance_jax.configs.studies import lowlight
from enhance_jax.configs.zoo import _zoo

NAME = "lowlight_default"
PROFILE = {
    "cpu": dict(steps=600, batch=8, checkpoint_every=200),
    "paper": dict(steps=20_000, batch=32, checkpoint_every=2_000),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _zoo.parse(arg)
  p = PROFILE[a["profile"]]
  c = default.get_config()
  c.train.num_steps = p["steps"]
  c.train.batch_size = p["batch"]
  c.train.checkpoint_every = p["checkpoint_every"]
  c.train.keep_checkpoints = p["steps"] // p["checkpoint_every"] + 1
  c.train.eval_every = p["steps"]
  c.evals = ml_collections.ConfigDict(lowlight.test_sets("cpu"))  # the study's own sets
  c.init_checkpoint = _zoo.weights(NAME) if a["init"] == "zoo" else ""
  return c
