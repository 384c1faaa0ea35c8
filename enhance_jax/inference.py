"""Applying a model to images of any size and mode: tiled inference and file I/O.

A library module (no flags), used by `python -m enhance_jax.enhance`, the
benchmarks and the study scripts. Large images are processed in tiles: each
forward pass keeps a `tile` x `tile` block of the output and sees `overlap`
more input pixels on every side (fewer only at the image border), so the
result equals the whole-image result when the model's receptive radius is at
most `overlap`, for every tile and overlap, and memory stays bounded.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class Enhancer:
  """Holds a model and its variables; `__call__` maps an HWC float image to its
  enhanced HWC float image in [0, 1] (SR models return a larger one)."""

  def __init__(self, model, variables, channels: int, tile: int = 512, overlap: int = 32,
               tile_batch: int = 4, noise_level: float | None = None, preprocess: str = "",
               self_ensemble: bool = False):
    """`preprocess`: a degradation spec applied to the input first (`config_preprocess`);
    `noise_level`: sigma on the 0-255 scale for models that take one; `self_ensemble`: the
    output is the x8 flip/rotation ensemble (`enhance_jax.self_ensemble`), in the jitted
    forward."""
    import jax
    from enhance_jax import models
    from enhance_jax import self_ensemble as ensemble_lib
    from enhance_jax.data import degradations
    check_tiling(tile, overlap, tile_batch)
    self.channels, self.tile, self.overlap, self.tile_batch = channels, tile, overlap, tile_batch
    extras = models.extra_inputs(model)
    self.takes_noise_level = "noise_level" in extras
    if extras and "noise_level" in extras and noise_level is None:
      raise ValueError(f"{type(model).__name__} needs --noise_level (sigma on the 0-255 scale): "
                       "the config's data.degrade has no fixed gaussian_noise sigma.")
    pre = degradations.build(preprocess)

    def forward(variables, x):
      batch = pre({"target": x, "input": x}, jax.random.PRNGKey(0))
      kw = {}
      if "noise_level" in extras:
        kw["noise_level"] = jax.numpy.full((x.shape[0],), noise_level / 255.0, x.dtype)
      apply = lambda x, **kw: model.apply(variables, x, train=False, **kw)  # noqa: E731
      y = ensemble_lib.x8(apply, batch["input"], **kw) if self_ensemble else apply(
          batch["input"], **kw)
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

  def batch_shape(self, h: int, w: int) -> tuple[int, int, int, int]:
    """The (batch, height, width, channels) of the forward passes `__call__` runs for an
    h x w image: the whole image once where it fits in one tile, else batches of
    `tile_batch` windows of min(tile + 2 * overlap, side) pixels (the last batch may hold
    fewer). Warming up on this shape compiles what the run uses."""
    t, o = self.tile, self.overlap
    if not t or (h <= t + 2 * o and w <= t + 2 * o):
      return 1, h, w, self.channels
    return self.tile_batch, min(t + 2 * o, h), min(t + 2 * o, w), self.channels

  def __call__(self, image: np.ndarray, on_tiles=None) -> np.ndarray:
    """image: HWC float32 in [0, 1] with `self.channels` channels. `on_tiles(done, total)` is
    called after each forward pass with the tiles done so far."""
    h, w, _ = image.shape
    t, o = self.tile, self.overlap
    if self.batch_shape(h, w)[0] == 1:
      out = self._run(image[None])[0]
      if on_tiles is not None:
        on_tiles(1, 1)
      return out
    rows, cols = tile_windows(h, t, o), tile_windows(w, t, o)
    t_h = rows[0][1] - rows[0][0]
    tiles = [(r, c) for r in rows for c in cols]
    out = None
    for i in range(0, len(tiles), self.tile_batch):
      chunk = tiles[i:i + self.tile_batch]
      res = self._run(np.stack([image[r[0]:r[1], c[0]:c[1]] for r, c in chunk]))
      s = res.shape[1] // t_h
      if out is None:
        out = np.zeros((h * s, w * s, res.shape[-1]), np.float32)
      for ((y0, _, ky0, ky1), (x0, _, kx0, kx1)), r in zip(chunk, res):
        out[ky0 * s:ky1 * s, kx0 * s:kx1 * s] = r[(ky0 - y0) * s:(ky1 - y0) * s,
                                                  (kx0 - x0) * s:(kx1 - x0) * s]
      if on_tiles is not None:
        on_tiles(min(i + self.tile_batch, len(tiles)), len(tiles))
    return out


# Ops of `data.degrade` that prepare the input rather than degrade it. `enhance` is given an
# already degraded image (noisy, dark, low-resolution), so it applies only these, in order:
# e.g. SRCNN's `bicubic_up(scale=3)`, colorization's `grayscale(channels=1)`.
PREPARE_OPS = ("bicubic_up", "grayscale", "clip", "to_ycbcr", "to_lab")


def config_preprocess(config) -> str:
  """The ops of `config.data.degrade` that `enhance` applies to its input (PREPARE_OPS, those of
  them that change only 'input'), as a spec string; '' when there are none. Synthetic
  degradations (noise, low light, bicubic_down, holes, ...) are dropped: the user's image is
  already the degraded one."""
  from enhance_jax.data import degradations
  kept = []
  for name, kwargs in degradations.parse_spec(config.data.degrade):
    if name in PREPARE_OPS and tuple(kwargs.get("keys", ("input",))) == ("input",):
      args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
      kept.append(f"{name}({args})")
  return "|".join(kept)


def config_noise_level(config) -> float | None:
  """The noise sigma (0-255 scale) of `config.data.degrade`'s gaussian_noise op (what a
  noise-level-map model such as FFDNet is told), or None when it has none or draws sigma
  from a range (blind training: the user must say which)."""
  import inspect
  from enhance_jax.data import degradations
  for name, kwargs in degradations.parse_spec(config.data.degrade):
    if name == "gaussian_noise":
      defaults = inspect.signature(degradations.gaussian_noise).parameters
      sigma = kwargs.get("sigma", defaults["sigma"].default)
      scale = kwargs.get("scale", defaults["scale"].default)
      if isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
        return float(sigma) * 255.0 / float(scale)
  return None


def check_tiling(tile: int, overlap: int, tile_batch: int) -> None:
  """Raises ValueError (one line naming the flag) for tiling values that cannot work."""
  for name, value, low, meaning in (("tile", tile, 0, "0 = whole image"),
                                    ("overlap", overlap, 0, "context pixels per side"),
                                    ("tile_batch", tile_batch, 1, "tiles per forward pass")):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
      raise ValueError(f"--{name}={value}: must be an integer >= {low} ({meaning}).")


def tile_windows(n: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
  """Tiling of one axis of length `n`: (start, stop, keep_start, keep_stop) per tile.

  The kept blocks [keep_start, keep_stop) are `tile` long (the last one
  shorter) and partition [0, n). Every input window [start, stop) has the same
  length min(tile + 2 * overlap, n) and contains its kept block with at least
  `overlap` pixels on each side, or reaches the border of the axis there.
  """
  size = min(tile + 2 * overlap, n)
  out = []
  for keep in range(0, n, tile):
    start = max(0, min(keep - overlap, n - size))
    out.append((start, start + size, keep, min(keep + tile, n)))
  return out


def enhance_file(enhancer: Enhancer, src: Path, dst: Path, on_tiles=None) -> None:
  """Reads `src` (any mode), enhances it and writes `dst` with the same mode/depth.
  `on_tiles(done, total)`: progress over the forward passes of the whole file."""
  from PIL import Image
  from enhance_jax.data import color, imageio
  data = imageio.read_image(src, channels=None, keep_16bit=True)
  with Image.open(src) as im:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    alpha = np.asarray(im.convert("RGBA"))[..., 3:] if has_alpha else None
  bits16 = data.dtype == np.uint16
  x = imageio.to_float(data)
  c_in = x.shape[-1]
  passes = c_in if enhancer.channels == 1 and c_in > 1 else 1

  def tiles(k):  # the k-th pass of `passes` over the image
    if on_tiles is None:
      return None
    return lambda done, total: on_tiles(k * total + done, passes * total)
  if enhancer.channels == c_in:
    y = enhancer(x, tiles(0))
  elif enhancer.channels == 1:  # gray model, colour image: channel by channel
    y = np.concatenate([enhancer(x[..., i:i + 1], tiles(i)) for i in range(c_in)], axis=-1)
  else:  # colour model, gray image
    y = enhancer(np.repeat(x, 3, axis=-1), tiles(0))
    y = color.rgb_to_gray(y)
  if alpha is not None:
    s = y.shape[0] // x.shape[0]
    a = alpha.repeat(s, 0).repeat(s, 1) if s > 1 else alpha
    a = a.astype(np.float32) / 255.0
    y = np.concatenate([y if y.shape[-1] == 3 else np.repeat(y, 3, -1), a], axis=-1)
  imageio.write_image(dst, y, bits=16 if bits16 else 8)


def plan_outputs(src: str | Path, dst: str | Path) -> list[tuple[Path, Path]]:
  """(input, output) file pairs for `enhance --input=src --output=dst`.

  `src` is an image file or a folder of images; `dst` is a file (for a file
  `src`, unless it is an existing folder) or a folder. A folder's images are
  written as `<stem>.png`; when several inputs share a stem (x.png, x.jpg,
  x.tif) each is written as `<stem>_<ext>.png` instead. Raises ValueError
  (one line naming the files) when an output would be an input or two
  outputs would be the same file; nothing is overwritten but earlier outputs.
  """
  from enhance_jax.data import imageio
  src, dst = Path(src), Path(dst)
  if src.is_dir():
    files = imageio.list_images(src)
    if dst.exists() and not dst.is_dir():
      raise ValueError(f"--output={dst}: is a file, but --input={src} is a folder; "
                       "give an output folder.")
    stems: dict[str, int] = {}
    for f in files:
      stems[f.stem] = stems.get(f.stem, 0) + 1
    pairs = [(f, dst / (f"{f.stem}_{f.suffix[1:].lower()}.png" if stems[f.stem] > 1
                        else f"{f.stem}.png")) for f in files]
  else:
    pairs = [(src, dst / (src.stem + ".png") if dst.is_dir() else dst)]
  inputs = {_key(a): a for a, _ in pairs}
  outputs: dict[str, Path] = {}
  for a, b in pairs:
    if _key(b) in inputs or (b.exists() and any(_same(b, i) for i in inputs.values())):
      raise ValueError(f"{b}: the output for {a} would overwrite the input "
                       f"{inputs.get(_key(b), b)}; choose another --output.")
    if _key(b) in outputs:
      raise ValueError(f"{b}: both {outputs[_key(b)]} and {a} would be written there; "
                       "rename one of them.")
    outputs[_key(b)] = a
  return pairs


def _key(path: Path) -> str:
  return os.path.normcase(os.path.realpath(path))


def _same(a: Path, b: Path) -> bool:
  try:
    return os.path.samefile(a, b)
  except OSError:
    return False
