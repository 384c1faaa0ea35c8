"""Host-side (numpy) degradations that cannot run in the graph, e.g. JPEG.

A host op has the signature `op(image_uint8, rng, **params) -> image_uint8`
on one HWC uint8 image (rng: `np.random.Generator`). `build(spec)` composes a
`config.data.host_degrade` spec (same "name(k=v)|..." syntax as the in-graph
degradations) into `fn(example, rng) -> example`, applied to example['input']
(created from 'target' when absent). A (lo, hi) tuple for a parameter means a
uniform draw per image (integers for integer bounds).
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from enhance_jax.registry import Registry
from enhance_jax.data import bicubic
from enhance_jax.data.degradations import check_params, parse_spec

HOST_OPS = Registry("host degradation")
register = HOST_OPS.register


def draw(value, rng: np.random.Generator):
  """A scalar, or a per-call uniform draw from (lo, hi) (inclusive ints for int bounds)."""
  if isinstance(value, (tuple, list)):
    lo, hi = value
    if isinstance(lo, int) and isinstance(hi, int):
      return int(rng.integers(lo, hi + 1))
    return float(rng.uniform(lo, hi))
  return value


def jpeg(image: np.ndarray, quality: int = 75, subsampling: int | str = -1) -> np.ndarray:
  """JPEG-compresses and decodes an HWC uint8 image (1 or 3 channels) with Pillow.

  `quality` in [1, 100] (the libjpeg scale); `subsampling` -1 keeps Pillow's
  default chroma subsampling (4:2:0), or 0/1/2 = 4:4:4/4:2:2/4:2:0.
  """
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise TypeError(f"jpeg: expected a uint8 image, got {image.dtype}.")
  if not 1 <= int(quality) <= 100:
    raise ValueError(f"jpeg: quality must be in [1, 100], got {quality}.")
  gray = image.ndim == 2 or image.shape[-1] == 1
  pil = Image.fromarray(image.reshape(image.shape[:2]) if gray else image)
  buf = io.BytesIO()
  kwargs = {} if subsampling == -1 else {"subsampling": subsampling}
  pil.save(buf, format="JPEG", quality=int(quality), **kwargs)
  out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
  return out[..., None] if gray else out


@register("jpeg")
def jpeg_op(image: np.ndarray, rng: np.random.Generator, quality=(10, 40),
            subsampling=-1) -> np.ndarray:
  """JPEG artefacts at `quality` (an int or an inclusive (lo, hi) range per image)."""
  return jpeg(image, int(draw(quality, rng)), subsampling)


@register("bicubic_down")
def bicubic_down_op(image: np.ndarray, rng: np.random.Generator, scale=4,
                    boundary: str = "symmetric") -> np.ndarray:
  """MATLAB bicubic downscaling with uint8 rounding (as `imresize` on uint8)."""
  del rng
  return bicubic.imresize_np(image, 1.0 / scale, boundary=boundary)


def build(spec: str) -> Callable[[dict, np.random.Generator], dict]:
  """Composes a host spec into `fn(example, rng) -> example` (new dict; 'input' set).

  An empty spec returns the example unchanged. Unknown names raise KeyError here.
  """
  ops = [(HOST_OPS.lookup(name), kwargs) for name, kwargs in parse_spec(spec)]
  for (fn, kwargs), (name, _) in zip(ops, parse_spec(spec)):
    check_params(fn, name, kwargs, leading=2)

  def apply(example: dict, rng: np.random.Generator) -> dict:
    if not ops:
      return example
    example = dict(example)
    x = example.get("input", example["target"])
    for fn, kwargs in ops:
      x = fn(x, rng, **kwargs)
    example["input"] = x
    return example

  apply.spec = spec
  return apply
