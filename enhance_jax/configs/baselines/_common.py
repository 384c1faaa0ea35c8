"""Shared builder of the classical-baseline evaluation configs in this folder.

`baseline_config(name, kwargs, task)` = the data, degradation and metric protocol
of `task`, plus `config.baseline` (a key of `enhance_jax.baselines.BASELINES`
and its parameters). Evaluate with
`python -m enhance_jax.evaluate --config=baselines/<name> --output_json=F`.
`arg` (after ':' in --config) overrides the condition: 'sigma=50', 'max_images=8' (parsed by
`enhance_jax.config.parse_arg`; which keys a task takes is in `baseline_config`).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import base_config, parse_arg


def baseline_config(name: str, kwargs: dict | None = None, task: str = "denoise",
                    arg: str | None = None, sigma: float = 25.0, scale: int = 4
                    ) -> ml_collections.ConfigDict:
  """task: 'denoise' (BSD68, x + σ/255·N(0,1) not clipped, uint8 output, full image),
  'sr' (Set5 LR -> HR, Y channel, `scale` px shaved), 'lowlight' (LOL test pairs),
  'holes' (BSDS500 test, random black rectangles)."""
  keys = dict(max_images=0)
  if task == "denoise":
    keys.update(sigma=float(sigma), data="bsd68")
  elif task == "sr":
    keys.update(scale=int(scale))
  opts = parse_arg(arg, **keys)
  kwargs = dict(kwargs or {})
  c = base_config()
  c.baseline = ml_collections.ConfigDict()
  c.baseline.name = name
  c.data.augment = False
  c.data.eval_split = "test"
  c.data.kwargs = ml_collections.ConfigDict()
  c.data.host_degrade = ""
  c.eval.use_ema = False
  c.eval.round_uint8 = True
  c.eval.y_channel = False
  c.eval.crop_border = 0
  c.train.num_steps = 0
  c.train.batch_size = 1
  if task == "denoise":
    sigma = opts["sigma"]
    c.data.name = opts["data"]
    c.data.channels = 1
    c.data.degrade = f"gaussian_noise(sigma={sigma:g})"
    if name == "bm3d":
      kwargs["sigma"] = sigma
    elif name == "wavelet_denoise" and "sigma" in kwargs:
      kwargs["sigma"] = sigma / 255.0
  elif task == "sr":
    scale = opts["scale"]
    c.data.name = "set5"
    c.data.channels = 3
    c.data.kwargs = ml_collections.ConfigDict(dict(scale=scale))  # ships the LR input
    c.data.degrade = ""
    c.data.scale = scale
    c.eval.y_channel = True
    c.eval.crop_border = scale
    kwargs["scale"] = scale
  elif task == "lowlight":
    c.data.name = "lol"
    c.data.channels = 3
    c.data.degrade = ""
  elif task == "holes":
    c.data.name = "bsds500"
    c.data.channels = 3
    c.data.degrade = "random_holes(rects=(1, 3), rect_size=(0.1, 0.25))"
  else:
    raise ValueError(f"baseline_config: unknown task {task!r}.")
  c.baseline.kwargs = ml_collections.ConfigDict(kwargs)
  c.data.max_eval_images = opts["max_images"]
  return c
