"""Applying a model to images of any size and mode: tiled inference and file I/O.

A library module (no flags), used by `python -m enhance_jax.enhance`, the
benchmarks and the study scripts. Large images are processed in overlapping
tiles; each tile keeps its interior (half the overlap is dropped on sides facing
a neighbour), so the result equals the whole-image result when the model's
receptive radius is at most half the overlap, and memory stays bounded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Enhancer:
  """Holds a model and its variables; `__call__` maps an HWC float image to its
  enhanced HWC float image in [0, 1] (SR models return a larger one)."""

  def __init__(self, model, variables, channels: int, tile: int = 512, overlap: int = 32,
               tile_batch: int = 4, noise_level: float | None = None, preprocess: str = ""):
    import jax
    from enhance_jax import models
    from enhance_jax.data import degradations
    self.channels, self.tile, self.overlap, self.tile_batch = channels, tile, overlap, tile_batch
    extras = models.extra_inputs(model)
    if extras and "noise_level" in extras and noise_level is None:
      raise ValueError(f"{type(model).__name__} needs --noise_level (sigma on the 0-255 scale).")
    pre = degradations.build(preprocess)

    def forward(variables, x):
      batch = pre({"target": x, "input": x}, jax.random.PRNGKey(0))
      kw = {}
      if "noise_level" in extras:
        kw["noise_level"] = jax.numpy.full((x.shape[0],), noise_level / 255.0, x.dtype)
      y = model.apply(variables, batch["input"], train=False, **kw)
      return jax.numpy.clip(y.astype(jax.numpy.float32), 0.0, 1.0)

    self._forward = jax.jit(forward)
    self._variables = variables

  def _run(self, tiles: np.ndarray) -> np.ndarray:
    n = len(tiles)
    pad = (-n) % self.tile_batch if n > self.tile_batch else 0
    if pad:
      tiles = np.concatenate([tiles, np.repeat(tiles[-1:], pad, 0)])
    outs = [np.asarray(self._forward(self._variables, tiles[i:i + self.tile_batch]))
            for i in range(0, len(tiles), max(self.tile_batch, 1))]
    return np.concatenate(outs)[:n]

  def __call__(self, image: np.ndarray) -> np.ndarray:
    """image: HWC float32 in [0, 1] with `self.channels` channels."""
    h, w, _ = image.shape
    t = self.tile
    if not t or (h <= t and w <= t):
      return self._run(image[None])[0]
    t_h, t_w = min(t, h), min(t, w)
    step_h, step_w = max(t_h - self.overlap, 1), max(t_w - self.overlap, 1)
    ys = sorted({min(y, h - t_h) for y in range(0, h, step_h)})
    xs = sorted({min(x, w - t_w) for x in range(0, w, step_w)})
    coords = [(y, x) for y in ys for x in xs]
    half = self.overlap // 2
    out = None
    for i in range(0, len(coords), self.tile_batch):
      chunk = coords[i:i + self.tile_batch]
      res = self._run(np.stack([image[y:y + t_h, x:x + t_w] for y, x in chunk]))
      s = res.shape[1] // t_h
      if out is None:
        out = np.zeros((h * s, w * s, res.shape[-1]), np.float32)
      for (y, x), r in zip(chunk, res):
        # Keep the tile's interior: drop half the overlap on sides facing another tile.
        y0 = y + (half if y > 0 else 0)
        y1 = y + t_h - (half if y + t_h < h else 0)
        x0 = x + (half if x > 0 else 0)
        x1 = x + t_w - (half if x + t_w < w else 0)
        out[y0 * s:y1 * s, x0 * s:x1 * s] = r[(y0 - y) * s:(y1 - y) * s, (x0 - x) * s:(x1 - x) * s]
    return out


def enhance_file(enhancer: Enhancer, src: Path, dst: Path) -> None:
  """Reads `src` (any mode), enhances it and writes `dst` with the same mode/depth."""
  from PIL import Image
  from enhance_jax.data import imageio
  data = imageio.read_image(src, channels=None, keep_16bit=True)
  with Image.open(src) as im:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    alpha = np.asarray(im.convert("RGBA"))[..., 3:] if has_alpha else None
  bits16 = data.dtype == np.uint16
  x = imageio.to_float(data)
  c_in = x.shape[-1]
  if enhancer.channels == c_in:
    y = enhancer(x)
  elif enhancer.channels == 1:  # gray model, colour image: channel by channel
    y = np.concatenate([enhancer(x[..., i:i + 1]) for i in range(c_in)], axis=-1)
  else:  # colour model, gray image
    y = enhancer(np.repeat(x, 3, axis=-1))
    y = (y @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
  if alpha is not None:
    s = y.shape[0] // x.shape[0]
    a = alpha.repeat(s, 0).repeat(s, 1) if s > 1 else alpha
    a = a.astype(np.float32) / 255.0
    y = np.concatenate([y if y.shape[-1] == 3 else np.repeat(y, 3, -1), a], axis=-1)
  imageio.write_image(dst, y, bits=16 if bits16 else 8)
