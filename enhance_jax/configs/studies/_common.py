"""What the study configs share: the denoiser training recipe and the BSD68 test set.

Not a config itself (no get_config).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config


def zoo_row(name: str) -> ml_collections.ConfigDict:
  """A study row of zoo model `name` (enhance_jax/configs/zoo/NAME.py): its config with the
  card's weights (init=zoo), scored, not trained (num_steps 0); the caller sets its evals."""
  import importlib  # pylint: disable=g-import-not-at-top
  c = importlib.import_module(f"enhance_jax.configs.zoo.{name}").get_config("init=zoo")
  c.train.num_steps = 0
  return c


def bsd68(sigma: float, images: int) -> dict:
  """The BSD68 test set at AWGN `sigma` (x + σ/255·N(0,1), not clipped; output rounded to
  uint8; PSNR on the full gray image), first `images` images (0 = all 68): an entry of
  config.evals. Image i's noise uses key fold_in(PRNGKey(eval.seed), i), the same for every
  method."""
  return dict(
      data=dict(name="bsd68", kwargs={}, eval_split="test", channels=1,
                degrade=f"gaussian_noise(sigma={sigma:g})", eval_max_size=0,
                max_eval_images=images),
      eval=dict(y_channel=False, crop_border=0, round_uint8=True, use_ema=False, grid_images=2))


def bsd68_name(sigma: float) -> str:
  return f"bsd68_s{sigma:g}"


def train400_denoiser(model: str, kwargs: dict, sigma: float, *, steps: int, batch: int,
                      patch: int, lr: float, log_every: int, eval_images: int,
                      loss: str = "l2") -> ml_collections.ConfigDict:
  """A gray denoiser trained on Train400 patches with AWGN `sigma` (not clipped), Adam,
  warmup + cosine, no EMA (DnCNN's recipe at a given scale), scored on BSD68 at `sigma`
  (config.evals.bsd68_s<sigma>) once, at the last step."""
  c = base_config()
  c.model.name = model
  c.model.kwargs = ml_collections.ConfigDict(dict(kwargs))
  c.data.name = "train400"
  c.data.kwargs = ml_collections.ConfigDict()
  c.data.train_split = "train"
  c.data.channels = 1
  c.data.patch_size = patch
  c.data.degrade = f"gaussian_noise(sigma={sigma:g})"
  c.loss = loss
  c.optimizer.learning_rate = lr
  c.optimizer.warmup_steps = min(20, steps // 10)
  c.train.batch_size = batch
  c.train.num_steps = steps
  c.train.eval_every = steps
  c.train.checkpoint_every = steps
  c.train.log_every = log_every
  c.train.ema_decay = 0.0
  c.eval.use_ema = False
  c.evals = ml_collections.ConfigDict({bsd68_name(sigma): bsd68(sigma, eval_images)})
  return c
