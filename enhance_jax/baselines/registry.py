"""The `baseline` registry: classical image -> image methods, by name.

Every entry is `fn(image, **params) -> image` with `image` an HWC float32 numpy
array in [0, 1] (C in {1, 3}) and the output of the same kind (same height and
width unless the method resizes). Parameters and their defaults are the
function's keyword arguments; `parameters(name)` lists them.

    from enhance_jax.baselines.registry import BASELINES, apply
    out = apply("median_filter", image, size=3)
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from enhance_jax.registry import Registry

BASELINES = Registry("baseline")


def parameters(name: str) -> dict[str, Any]:
  """Keyword parameters of baseline `name` -> default (`inspect.Parameter.empty` if required)."""
  sig = inspect.signature(BASELINES.lookup(name))
  return {k: p.default for k, p in list(sig.parameters.items())[1:]}


def apply(name: str, image: np.ndarray, **params) -> np.ndarray:
  """Runs baseline `name` on one HWC float image in [0, 1]."""
  return BASELINES.lookup(name)(image, **params)


def apply_batch(name: str, images: np.ndarray, per_image: tuple[str, ...] = ("mask",),
                **params) -> np.ndarray:
  """Runs baseline `name` on each image of an NHWC batch -> NHWC.

  Parameters named in `per_image` (default: an inpainting `mask` of shape
  [N, H, W] or [N, H, W, 1]) are indexed by image; the others are shared.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"apply_batch: expected NHWC images, got shape {images.shape}.")
  fn = BASELINES.lookup(name)
  outs = []
  for i, im in enumerate(images):
    p = {k: (v[i] if k in per_image else v) for k, v in params.items()}
    outs.append(fn(im, **p))
  return np.stack(outs)


# Importing the implementations registers them (this import is at the end so that
# `classical` can import `BASELINES` from here).
from enhance_jax.baselines import classical as _classical  # noqa: E402,F401
