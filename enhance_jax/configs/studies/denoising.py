"""Denoising study (experiments/denoising_bsd68.py): the BSD68 σ = 15 / 25 / 50 table of
nonlocal_networks_denoising_bsd68.txt, one row per config.

  --config=studies/denoising:model=dncnn,sigma=25,profile=cpu    # a network trained here
  --config=studies/denoising:model=bm3d,sigma=25,profile=cpu     # BM3D (evaluate only)
  --config=studies/denoising:model=dncnn_zoo,sigma=25,profile=cpu   # zoo/dncnn_s25 (evaluate)

model: dncnn | nonlocal_cnn | nlrn (trained on Train400 with AWGN σ, L2 loss, Adam 1e-3,
scored on BSD68 at σ by config.evals.bsd68_s<σ>) or bm3d (the classical reference,
baselines/bm3d_bsd68_s25.py, on the same BSD68 inputs) or dncnn_zoo (σ=25 only: the zoo's
DnCNN-S trained here, zoo/dncnn_s25, scored, not retrained). Profiles:
  paper: DnCNN 17 x 64, non-local CNN 17 x 64 (45 px window), NLRN 128 features x 12
         steps with the authors' patch scheme (nlrn_bsd400.py has their whole recipe);
         200k steps of batch 128 on 40 px patches; all 68 images.
  cpu:   ~6-layer, 24-channel nets (NLRN with our 15 px non-overlapping windows, an
         adaptation), 400 (DnCNN) / 150 (non-local CNN) / 100 (NLRN)
         steps of batch 8 (the non-local nets run ~0.5 step/s on 2 loaded cores);
         networks only at σ=25, scored on the first 4 BSD68 images; BM3D on the same
         4 images at σ=25 and the first 2 at σ=15 / 50 (BM3D takes ~40 s of CPU per
         image: all 68 took > 45 min on the loaded 2-core machine).
"""
from __future__ import annotations

import ml_collections

from enhance_jax.config import ConfigError
from enhance_jax.configs import _profiles
from enhance_jax.configs.baselines import _common as baselines
from enhance_jax.configs.studies import _common

SIGMAS = (15, 25, 50)
ZOO_SIGMA = 25  # zoo/dncnn_s25
NETS = {
    "dncnn": {"cpu": dict(depth=6, features=24), "paper": dict(depth=17, features=64)},
    "nonlocal_cnn": {"cpu": dict(depth=6, features=24, nl_window=15, nl_inter_channels=12),
                     "paper": dict(depth=17, features=64, nl_window=45)},
    # cpu: our non-overlapping 15 px windows on whole images (an adaptation, not the paper's);
    # paper: the authors' scheme (NLRN's defaults: global attention in 43 px training
    # patches, overlapping 43 px test patches every 7 px, averaged).
    "nlrn": {"cpu": dict(features=24, steps=3, inter_channels=12, window=15, test_patch=None),
             "paper": dict(features=128, steps=12, inter_channels=64, window=None,
                           test_patch=43, test_stride=7)},
}
PROFILE = {
    "cpu": dict(sigmas=(25,), steps=dict(dncnn=400, nonlocal_cnn=150, nlrn=100), batch=8,
                patch=40, lr=1e-3, eval_images=4, bm3d_images={15: 2, 25: 4, 50: 2}),
    "paper": dict(sigmas=SIGMAS, steps=dict(dncnn=200_000, nonlocal_cnn=200_000, nlrn=200_000),
                  batch=128, patch=40, lr=1e-3, eval_images=0, bm3d_images={15: 0, 25: 0, 50: 0}),
}


def rows(profile: str) -> list[str]:
  """The table's rows under `profile` (config arguments without the profile)."""
  p = PROFILE[_profiles.check(profile)]
  return ([f"model=bm3d,sigma={s}" for s in SIGMAS]
          + [f"model={m},sigma={s}" for m in NETS for s in p["sigmas"]]
          + [f"model=dncnn_zoo,sigma={ZOO_SIGMA}"])


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  a = _profiles.parse(arg, model="dncnn", sigma=25)
  model, sigma, p = a["model"], a["sigma"], PROFILE[a["profile"]]
  if sigma not in SIGMAS:
    raise ConfigError(f"config argument sigma={sigma}: the table has σ = 15, 25, 50.")
  if model == "bm3d":
    c = baselines.baseline_config("bm3d", {}, task="denoise", arg=f"sigma={sigma}")
    c.evals = ml_collections.ConfigDict(
        {_common.bsd68_name(sigma): _common.bsd68(sigma, p["bm3d_images"][sigma])})
    return c
  if model == "dncnn_zoo":
    if sigma != ZOO_SIGMA:
      raise ConfigError(f"config argument sigma={sigma}: model=dncnn_zoo is trained at "
                        f"σ={ZOO_SIGMA} only (zoo/dncnn_s25).")
    c = _common.zoo_row("dncnn_s25")
    c.evals = ml_collections.ConfigDict(
        {_common.bsd68_name(sigma): _common.bsd68(sigma, p["eval_images"])})
    return c
  if model not in NETS:
    raise ConfigError(f"config argument model={model}: use bm3d, dncnn_zoo or one of "
                      f"{', '.join(NETS)}.")
  steps = p["steps"][model]
  return _common.train400_denoiser(model, NETS[model][a["profile"]], sigma, steps=steps,
                                   batch=p["batch"], patch=p["patch"], lr=p["lr"],
                                   log_every=max(10, steps // 20), eval_images=p["eval_images"])
