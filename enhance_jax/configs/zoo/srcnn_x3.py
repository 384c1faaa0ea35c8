"""Zoo SRCNN x3: trained here on BSDS500 train, scored on Set5 x3 and BSDS500 test x3 (Y, 3 px).

  --config=zoo/srcnn_x3                  # the card's weights (evaluate / enhance)
  --config=zoo/srcnn_x3:init=random      # the 2-core CPU run of the card (about 90 min)
  --config=zoo/srcnn_x3:profile=paper    # the paper's budget, for an accelerator

The model is the paper's SRCNN 9-5-5 (64/32 features, ReLU, no residual, replicate padding,
on the MATLAB Y channel of the bicubic-upsampled image; 57,281 parameters), with our identity
init (`kernel_init='identity'`, models/sr.py) instead of the paper's N(0, 0.001): one channel
of conv1 and conv2 and conv3's only input path are centred deltas, the rest LeCun normal (conv3
zero), so the net starts as the bicubic image and learns the correction. The architecture is
unchanged. A probe of 1,800 steps (5.5 min, this recipe with a cosine over 1,800 steps) gave
Set5 x3 32.32 dB with this init and 31.67 dB with Flax's default (LeCun normal) init.
Recipe: random HR patches of the 200 BSDS500 train images (RGB, flips and rotations), degraded
in the graph as the Set5 LR images were made (MATLAB imresize 1/3 of the uint8 image: bicubic,
antialiased, replicate boundary, rounded after each axis and at the end), then MATLAB bicubic x3
upsampling; MSE on Y (`mse_y`); Adam 1e-3 with 100 warm-up steps, then a cosine to 1e-5; no
gradient clipping, no EMA. BSDS500 val (= BSD100) and test are not trained on. A batch of 16
patches of 96x96 holds as many pixels as the paper's 128 sub-images of 33x33; patches this large
keep the share of pixels near a patch border (made with MATLAB's replicate boundary, as at an
image border) small.

Evaluation sets (PSNR/SSIM on MATLAB Y of the uint8 output, 3 px shaved):
  set5_x3          Set5 with its shipped MATLAB-bicubic LR images (bicubic 30.39 dB, the
                   official 9-5-5 weights 32.74 dB, experiments/results/pretrained.md);
  test_bsds500_x3  the 200 BSDS500 test images, HR cropped to a multiple of 3 (480x321 or
                   321x480), LR made in the graph as above.
(ConfigDict orders keys by name and the card's benchmark is the first set: hence the names.)
The `cpu` profile fits the run in 90 minutes of wall time on 2 CPU cores: 18,000 steps of 16
(about 6 steps/s on the idle machine with the oneDNN kernels; the card's run: 53 minutes), a
checkpoint every 500 steps (all kept) so the card can score the model after 10, 30, 60 and 90
minutes. The `paper` profile has the paper's 8x10^8 backpropagations, read as one per 33x33 sub-
image (our reading): 6.25M steps of 128 sub-images (here 16 patches of 96x96). `init_checkpoint`
is `zoo/srcnn_x3/variables` (the card's weights), which `evaluate` and `enhance` apply;
`:init=random` starts from random init.
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config
from enhance_jax.configs.zoo import _zoo

NAME = "srcnn_x3"
SCALE = 3
# The Set5 LR protocol (SelfExSR): MATLAB imresize(uint8 HR, 1/3, 'bicubic'), stored as uint8.
LR = (f"bicubic_down(scale={SCALE}, boundary='replicate', round_intermediate=True, "
      "quantize=True)")
PROFILE = {
    "cpu": dict(batch=16, patch=96, steps=18_000, checkpoint_every=500, workers=0),
    "paper": dict(batch=16, patch=96, steps=6_250_000, checkpoint_every=250_000, workers=8),
}


def _sr_eval(data: dict) -> dict:
  base = dict(kwargs={}, eval_split="test", channels=3, eval_max_size=0, max_eval_images=0)
  return dict(data={**base, **data},
              eval=dict(y_channel=True, crop_border=SCALE, round_uint8=True, use_ema=False,
                        grid_images=2))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _zoo.parse(arg)
  p = PROFILE[a["profile"]]
  c = base_config()
  c.model.name = "srcnn"
  c.model.kwargs = ml_collections.ConfigDict(dict(kernel_sizes=(9, 5, 5), features=(64, 32),
                                                  padding="replicate", color="y",
                                                  kernel_init="identity"))
  c.data.name = "bsds500"
  c.data.kwargs = ml_collections.ConfigDict()
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.channels = 3
  c.data.patch_size = p["patch"]
  c.data.scale = 1                   # the LR input is made in the graph (data.degrade)
  c.data.degrade = f"{LR}|bicubic_up(scale={SCALE})"
  c.data.num_workers = p["workers"]
  c.data.prefetch = 4
  c.loss = "mse_y"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "warmup_cosine"
  c.optimizer.warmup_steps = 100
  c.optimizer.end_lr_factor = 0.01
  c.optimizer.grad_clip_norm = 0.0
  c.train.batch_size = p["batch"]
  c.train.num_steps = p["steps"]
  c.train.log_every = 50
  c.train.eval_every = p["steps"]
  c.train.checkpoint_every = p["checkpoint_every"]
  c.train.keep_checkpoints = p["steps"] // p["checkpoint_every"] + 1
  c.train.ema_decay = 0.0
  c.eval.use_ema = False
  c.eval.y_channel = True
  c.eval.crop_border = SCALE
  c.evals = ml_collections.ConfigDict({
      f"set5_x{SCALE}": _sr_eval(dict(name="set5", kwargs={"scale": SCALE}, scale=SCALE,
                                      degrade=f"bicubic_up(scale={SCALE})")),
      f"test_bsds500_x{SCALE}": _sr_eval(dict(
          name="bsds500",
          degrade=f"{LR.replace('quantize=True', 'quantize=True, modcrop=True')}"
                  f"|bicubic_up(scale={SCALE})")),
  })
  c.init_checkpoint = _zoo.weights(NAME) if a["init"] == "zoo" else ""
  return c
