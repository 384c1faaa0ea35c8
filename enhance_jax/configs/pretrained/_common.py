"""Shared builder of the pretrained-model evaluation configs in this folder.

Each `<name>.py` here calls `pretrained_config(name, arg)`; NAME is a key of
`enhance_jax.weights.importers.PRETRAINED` (model kwargs come from there, so a
config always fits the imported weights). `init_checkpoint` defaults to
`$ENHANCE_JAX_WEIGHTS/NAME` (else `weights/NAME`), as written by
`python -m enhance_jax.import_weights --model=NAME`.

`arg` (the text after ':' in `--config=file.py:arg`) overrides the test
condition, e.g. "sigma=50", "sigma=50,data=set12", "scale=4"; a bare number is the
sigma (denoisers) or the scale (SR). Parsed by `enhance_jax.config.parse_arg`.
"""
from __future__ import annotations

import os

import ml_collections

from enhance_jax.config import base_config, parse_arg

# Test conditions of the published numbers (MANIFEST section 5).
DENOISE_SETS = {1: "bsd68", 3: "cbsd68"}


def pretrained_config(name: str, arg: str | None = None, *, task: str = "denoise",
                      sigma: float = 25.0, scale: int = 3,
                      clip_noise: bool = False) -> ml_collections.ConfigDict:
  """An evaluation config for imported model `name`.

  task: 'denoise' (AWGN of `sigma`, clipped to [0, 1] only with `clip_noise`,
        full image, uint8 output),
        'sr' (the paired LR image, MATLAB bicubic upsampled by `scale`; PSNR/SSIM
        on Y with `scale` pixels shaved), or 'lowlight' (the LOL pairs, no degradation).
  """
  from enhance_jax.weights import importers  # pylint: disable=g-import-not-at-top
  spec = importers.PRETRAINED[name]
  if task == "denoise":
    opts = parse_arg(arg, "sigma", sigma=float(sigma), data=DENOISE_SETS[spec.channels])
  elif task == "sr":
    opts = parse_arg(arg, "scale", scale=int(scale), data="set5")
  elif task == "lowlight":
    opts = parse_arg(arg, data="lol")
  else:
    raise ValueError(f"pretrained_config: unknown task {task!r}.")
  c = base_config()
  c.model.name = spec.model
  c.model.kwargs = ml_collections.ConfigDict(dict(spec.model_kwargs))
  c.init_checkpoint = os.path.join(os.environ.get("ENHANCE_JAX_WEIGHTS", "weights"), name)
  c.data.channels = spec.channels
  c.data.augment = False
  c.data.host_degrade = ""
  c.data.eval_split = "test"
  c.data.kwargs = ml_collections.ConfigDict()
  c.data.scale = 1
  c.eval.use_ema = False
  c.eval.round_uint8 = True
  c.train.num_steps = 0
  c.train.batch_size = 1
  if task == "denoise":
    sigma = opts["sigma"]
    c.data.name = opts["data"]
    # Published protocol: x + σ/255·N(0,1), not clipped; output rounded to uint8; full image.
    c.data.degrade = f"gaussian_noise(sigma={sigma:g}" + (", clip=True)" if clip_noise else ")")
    c.eval.y_channel = False
    c.eval.crop_border = 0
  elif task == "sr":
    scale = opts["scale"]
    c.data.name = opts["data"]
    c.data.kwargs = ml_collections.ConfigDict(dict(scale=scale))
    c.data.scale = scale
    # The set5 source is paired: 'input' is the MATLAB-bicubic LR PNG (uint8), 'target' the HR
    # crop. SRCNN sees the MATLAB-bicubic upsampled LR. (The official demo downsamples the HR Y
    # channel in float instead; that gives 36.645 / 32.745 / 30.484 dB with these weights, this
    # config 0.01 dB less; `bicubic_down|bicubic_up` here would shrink the LR input twice.)
    c.data.degrade = f"bicubic_up(scale={scale})"
    c.eval.y_channel = True
    c.eval.crop_border = scale
  elif task == "lowlight":
    c.data.name = opts["data"]
    c.data.degrade = ""
    c.eval.y_channel = False
    c.eval.crop_border = 0
  c.data.patch_size = 64
  return c
