"""Degradations: pure, jittable functions that make the input of a training pair.

Every op has the signature `op(batch, key, **params) -> batch` where `batch`
is a dict of NHWC float32 arrays in [0, 1] holding at least 'input' (what is
degraded) and 'target'. An op returns a new dict; it may add keys (e.g.
'noise_level', shape [N], for FFDNet-style models or 'mask', NHW1, for
inpainting). Ops are composed from a spec string, big_vision style:

    "low_light(exposure=(0.05, 0.25), gamma=(1.5, 2.5))|clip"

A tuple `(lo, hi)` for a scalar parameter means "uniform per image in [lo, hi]".
Host-side ops that cannot run in the graph (JPEG) live in the input pipeline.
"""
from __future__ import annotations

import ast
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.registry import Registry
from enhance_jax.data import bicubic as _bicubic
from enhance_jax.data import color as _color

DEGRADATIONS = Registry("degradation")
register = DEGRADATIONS.register

Batch = dict[str, jax.Array]


def parse_spec(spec: str) -> list[tuple[str, dict]]:
  """'a(x=1)|b' -> [('a', {'x': 1}), ('b', {})]. Empty spec -> []."""
  ops = []
  parts = [p.strip() for p in (spec or "").split("|")] if (spec or "").strip() else []
  if any(not p for p in parts):
    raise ValueError(f"Degradation spec {spec!r}: an empty op (a stray '|'); join ops as "
                     "'a(...)|b(...)'.")
  for part in parts:
    try:
      node = ast.parse(part if "(" in part else part + "()", mode="eval").body
    except SyntaxError as e:
      raise ValueError(f"Degradation spec {spec!r}: cannot parse {part!r} ({e.msg}).") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
      raise ValueError(f"Degradation spec {spec!r}: {part!r} must look like name(key=value, ...).")
    kwargs = {}
    for kw in node.keywords:
      try:
        kwargs[kw.arg] = ast.literal_eval(kw.value)
      except ValueError:
        raise ValueError(f"Degradation spec {spec!r}: value of {kw.arg!r} is not a literal.") from None
    ops.append((node.func.id, kwargs))
  return ops


def build(spec: str) -> Callable[[Batch, jax.Array], Batch]:
  """Composes the ops of `spec` into one `fn(batch, key) -> batch`.

  Unknown op names raise KeyError at build time (not inside jit). Each op gets
  its own key, `fold_in(key, position)`.
  """
  ops = [(DEGRADATIONS.lookup(name), kwargs, name) for name, kwargs in parse_spec(spec)]
  for fn, kwargs, name in ops:
    check_params(fn, name, kwargs, leading=2)

  def apply(batch: Batch, key: jax.Array) -> Batch:
    batch = dict(batch)
    batch.setdefault("input", batch["target"])
    for i, (fn, kwargs, _) in enumerate(ops):
      batch = fn(batch, jax.random.fold_in(key, i), **kwargs)
    return batch

  apply.spec = spec
  return apply


def check_params(fn: Callable, name: str, kwargs: dict, leading: int) -> None:
  """Raises ValueError when `kwargs` are not parameters of op `fn` (after `leading` positional
  ones), naming the op and its parameters: a typo fails when the spec is built, not in jit."""
  import inspect
  params = list(inspect.signature(fn).parameters.values())[leading:]
  known = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
  if any(p.kind == p.VAR_KEYWORD for p in params):
    return
  unknown = [k for k in kwargs if k not in known]
  if unknown:
    raise ValueError(f"{name}(): unknown parameter {unknown[0]!r}; it takes "
                     f"{', '.join(known) or 'no parameters'}.")


def per_image(key: jax.Array, value, n: int) -> jax.Array:
  """A scalar or (lo, hi) range -> shape [n] float32 values (uniform in the range)."""
  if isinstance(value, (tuple, list)):
    lo, hi = value
    return jax.random.uniform(key, (n,), jnp.float32, lo, hi)
  return jnp.full((n,), value, jnp.float32)


def _bcast(v: jax.Array) -> jax.Array:
  return v[:, None, None, None]


@register("clip")
def clip(batch: Batch, key: jax.Array, lo: float = 0.0, hi: float = 1.0) -> Batch:
  """Clips the input to [lo, hi]."""
  del key
  return {**batch, "input": jnp.clip(batch["input"], lo, hi)}


@register("gaussian_noise")
def gaussian_noise(batch: Batch, key: jax.Array, sigma=25.0, clip: bool = False,
                   scale: float = 255.0) -> Batch:
  """Additive white Gaussian noise of std `sigma / scale`.

  `sigma` is on the 0-255 scale by default (the denoising literature's σ);
  a (lo, hi) range draws one σ per image (blind training). Adds
  'noise_level' = σ/scale, shape [N]. `clip=False` keeps values outside
  [0, 1], as in the DnCNN/FFDNet benchmarks.
  """
  x = batch["input"]
  k_sigma, k_noise = jax.random.split(key)
  level = per_image(k_sigma, sigma, x.shape[0]) / scale
  y = x + _bcast(level) * jax.random.normal(k_noise, x.shape, x.dtype)
  if clip:
    y = jnp.clip(y, 0.0, 1.0)
  return {**batch, "input": y, "noise_level": level}


@register("poisson_gaussian")
def poisson_gaussian(batch: Batch, key: jax.Array, photons=(20.0, 200.0), read_sigma=(0.0, 0.02),
                     clip: bool = True) -> Batch:
  """Poisson-Gaussian sensor noise: Poisson(x * photons) / photons + N(0, read_sigma²).

  `photons` is the full-well count at signal 1 (lower = noisier). The Poisson
  part uses its Gaussian approximation with signal-dependent variance x/photons,
  which is differentiable and exact in mean and variance.
  """
  x = batch["input"]
  k1, k2, k3, k4 = jax.random.split(key, 4)
  n = x.shape[0]
  p = _bcast(per_image(k1, photons, n))
  r = _bcast(per_image(k2, read_sigma, n))
  shot = jnp.sqrt(jnp.maximum(x, 0.0) / p) * jax.random.normal(k3, x.shape, x.dtype)
  read = r * jax.random.normal(k4, x.shape, x.dtype)
  y = x + shot + read
  if clip:
    y = jnp.clip(y, 0.0, 1.0)
  return {**batch, "input": y}


@register("low_light")
def low_light(batch: Batch, key: jax.Array, exposure=(0.05, 0.3), gamma=(1.4, 2.2),
              photons=(30.0, 300.0), read_sigma=(0.002, 0.015)) -> Batch:
  """Synthetic low light: y = PoissonGaussian((x ** gamma) * exposure), clipped.

  Gamma darkens mid-tones more than highlights (as underexposed camera output
  does), exposure scales the light, and the sensor noise is applied to the
  darkened signal. Each parameter may be a (lo, hi) range per image.
  """
  x = batch["input"]
  k1, k2, k3 = jax.random.split(key, 3)
  n = x.shape[0]
  e = _bcast(per_image(k1, exposure, n))
  g = _bcast(per_image(k2, gamma, n))
  dark = jnp.power(jnp.clip(x, 0.0, 1.0), g) * e
  return poisson_gaussian({**batch, "input": dark}, k3, photons=photons,
                          read_sigma=read_sigma, clip=True)


# --- Resizing (super-resolution) --------------------------------------------


@register("bicubic_down")
def bicubic_down(batch: Batch, key: jax.Array, scale: float = 4, boundary: str = "symmetric",
                 quantize: bool = False, round_intermediate: bool = False,
                 modcrop: bool = False) -> Batch:
  """MATLAB bicubic downscaling of the input by `scale` (the SR LR image).

  Input [N, H, W, C] -> [N, ceil(H/scale), ceil(W/scale), C]; the target is
  untouched (HR). `modcrop=True` (integer scale) first crops input, target and
  mask to the top-left multiple of `scale` (the SR benchmark convention), so
  that HR = scale x LR for any eval image. `quantize` rounds the result to
  multiples of 1/255 (as if saved as uint8); `boundary='replicate'` +
  `round_intermediate=True` reproduces the classic benchmark LR images
  (see `data.bicubic`).
  """
  del key
  if modcrop:
    s = int(scale)
    h, w = batch["input"].shape[1:3]
    crop = lambda v: v[:, :h // s * s, :w // s * s]  # noqa: E731
    batch = {**batch, **{k: crop(batch[k]) for k in ("input", "target", "mask")
                         if k in batch and batch[k].shape[1:3] == (h, w)}}
  y = _bicubic.imresize(batch["input"], 1.0 / scale, boundary=boundary,
                        round_intermediate=round_intermediate)
  if quantize:
    y = jnp.clip(jnp.round(y * 255.0), 0.0, 255.0) / 255.0
  return {**batch, "input": y}


@register("bicubic_up")
def bicubic_up(batch: Batch, key: jax.Array, scale: float = 4, boundary: str = "symmetric",
               clip: bool = False) -> Batch:
  """MATLAB bicubic upscaling of the input by `scale` (SRCNN/VDSR-style input)."""
  del key
  y = _bicubic.imresize(batch["input"], float(scale), boundary=boundary)
  if clip:
    y = jnp.clip(y, 0.0, 1.0)
  return {**batch, "input": y}


# --- Inpainting -------------------------------------------------------------


def _count(key: jax.Array, value, n: int) -> tuple[int, jax.Array]:
  """An int or inclusive (lo, hi) range -> (max count, per-image count [N] int32)."""
  if isinstance(value, (tuple, list)):
    lo, hi = int(value[0]), int(value[1])
    return hi, jax.random.randint(key, (n,), lo, hi + 1)
  return int(value), jnp.full((n,), int(value), jnp.int32)


def _uniform(key: jax.Array, value, shape) -> jax.Array:
  if isinstance(value, (tuple, list)):
    return jax.random.uniform(key, shape, jnp.float32, value[0], value[1])
  return jnp.full(shape, value, jnp.float32)


def _rect_mask(key, n, h, w, rects, rect_size, area, aspect) -> jax.Array:
  """[N, H, W] bool union of up to max(rects) axis-aligned rectangles per image."""
  k_n, k_h, k_w, k_a, k_r, k_y, k_x = jax.random.split(key, 7)
  m, count = _count(k_n, rects, n)
  if m == 0:
    return jnp.zeros((n, h, w), bool)
  if area is not None:  # each rectangle covers area / count of the image
    a = _uniform(k_a, area, (n, 1)) / jnp.maximum(count[:, None], 1)
    log_aspect = (tuple(np.log(aspect)) if isinstance(aspect, (tuple, list))
                  else float(np.log(aspect)))
    r = jnp.exp(_uniform(k_r, log_aspect, (n, m)))  # log-uniform aspect ratio h / w
    fh, fw = jnp.sqrt(a * r), jnp.sqrt(a / r)
  else:
    fh, fw = _uniform(k_h, rect_size, (n, m)), _uniform(k_w, rect_size, (n, m))
  rh = jnp.clip(jnp.round(fh * h), 1, h).astype(jnp.int32)
  rw = jnp.clip(jnp.round(fw * w), 1, w).astype(jnp.int32)
  y0 = jnp.floor(jax.random.uniform(k_y, (n, m)) * (h - rh + 1)).astype(jnp.int32)
  x0 = jnp.floor(jax.random.uniform(k_x, (n, m)) * (w - rw + 1)).astype(jnp.int32)
  yy = jnp.arange(h)[None, None, :, None]
  xx = jnp.arange(w)[None, None, None, :]
  e = lambda v: v[:, :, None, None]  # noqa: E731
  inside = (yy >= e(y0)) & (yy < e(y0 + rh)) & (xx >= e(x0)) & (xx < e(x0 + rw))
  active = (jnp.arange(m)[None, :] < count[:, None])[:, :, None, None]
  return jnp.any(inside & active, axis=1)


def _stroke_mask(key, n, h, w, strokes, width, vertices, step) -> jax.Array:
  """[N, H, W] bool union of free-form strokes: thick polylines of random walks."""
  k_n, k_v, k_s, k_a, k_l, k_w = jax.random.split(key, 6)
  m, count = _count(k_n, strokes, n)
  if m == 0:
    return jnp.zeros((n, h, w), bool)
  vmax, nverts = _count(k_v, vertices, n * m)
  vmax = max(vmax, 2)
  nverts = jnp.maximum(nverts.reshape(n, m), 2)
  side = float(min(h, w))
  start = jax.random.uniform(k_s, (n, m, 1, 2)) * jnp.array([h - 1, w - 1], jnp.float32)
  angle = jax.random.uniform(k_a, (n, m, vmax - 1), jnp.float32, 0.0, 2 * np.pi)
  length = _uniform(k_l, step, (n, m, vmax - 1)) * side
  moves = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1) * length[..., None]
  pts = jnp.concatenate([start, start + jnp.cumsum(moves, axis=2)], axis=2)
  pts = jnp.clip(pts, 0.0, jnp.array([h - 1, w - 1], jnp.float32))  # [N, M, V, 2]
  radius = _uniform(k_w, width, (n, m)) * side / 2
  a, b = pts[:, :, :-1], pts[:, :, 1:]                              # [N, M, S, 2]
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                                jnp.arange(w, dtype=jnp.float32), indexing="ij"), -1)
  p = grid[None, None, None]                                        # [1, 1, 1, H, W, 2]
  a_, d_ = a[:, :, :, None, None], (b - a)[:, :, :, None, None]
  t = jnp.clip(jnp.sum((p - a_) * d_, -1) / jnp.maximum(jnp.sum(d_ * d_, -1), 1e-6), 0, 1)
  dist2 = jnp.sum((p - a_ - t[..., None] * d_) ** 2, -1)           # [N, M, S, H, W]
  seg_on = (jnp.arange(vmax - 1)[None, None, :] < (nverts - 1)[:, :, None])
  hit = (dist2 <= (radius ** 2)[:, :, None, None, None]) & seg_on[..., None, None]
  active = (jnp.arange(m)[None, :] < count[:, None])[:, :, None, None]
  return jnp.any(jnp.any(hit, axis=2) & active, axis=1)


@register("random_holes")
def random_holes(batch: Batch, key: jax.Array, rects=(1, 3), rect_size=(0.1, 0.4), area=None,
                 aspect=(0.5, 2.0), strokes=0, stroke_width=(0.03, 0.08),
                 stroke_vertices=(4, 10), stroke_step=(0.05, 0.25), fill: float = 0.0) -> Batch:
  """Black holes for inpainting: rectangles and/or free-form strokes.

  Counts (`rects`, `strokes`, `stroke_vertices`) are ints or inclusive (lo, hi)
  ranges drawn per image. Rectangle sides are `rect_size` fractions of the
  image sides, or, when `area` (fraction, scalar or range) is given, each of the
  n rectangles covers area / n of the image with aspect ratio h/w in `aspect`
  (overlaps make the union smaller). Strokes are polylines of random walks
  with `stroke_step` and `stroke_width` as fractions of the shorter side.
  Masked input pixels are set to `fill` (0 = black); adds batch['mask'],
  [N, H, W, 1] float32, 1 = damaged (united with an existing mask).
  """
  x = batch["input"]
  n, h, w = x.shape[:3]
  k_r, k_s = jax.random.split(key)
  mask = _rect_mask(k_r, n, h, w, rects, rect_size, area, aspect)
  mask = mask | _stroke_mask(k_s, n, h, w, strokes, stroke_width, stroke_vertices, stroke_step)
  mask = mask[..., None].astype(x.dtype)
  if "mask" in batch:
    mask = jnp.maximum(mask, batch["mask"].astype(x.dtype))
  return {**batch, "input": x * (1 - mask) + fill * mask, "mask": mask}


# --- Colour -----------------------------------------------------------------


@register("grayscale")
def grayscale(batch: Batch, key: jax.Array, channels: int | None = None) -> Batch:
  """BT.601 luma of the input; `channels` = 1 or 3 (None keeps the input's count)."""
  del key
  x = batch["input"]
  return {**batch, "input": _color.rgb_to_gray(x, channels or x.shape[-1])}


@register("to_ycbcr")
def to_ycbcr(batch: Batch, key: jax.Array, keys=("input",)) -> Batch:
  """MATLAB rgb2ycbcr (BT.601, studio swing, in [0, 1]) of the listed batch keys."""
  del key
  return {**batch, **{k: _color.rgb_to_ycbcr(batch[k]) for k in keys}}


@register("to_lab")
def to_lab(batch: Batch, key: jax.Array, keys=("input",), normalize: bool = True,
           l_only: bool = False) -> Batch:
  """CIE Lab (D65) of the listed keys; `normalize` maps L/100, (a+128)/255, (b+128)/255.

  `l_only=True` keeps only L (1 channel): the colorization input.
  """
  del key
  out = dict(batch)
  for k in keys:
    lab = _color.rgb_to_lab(batch[k])
    if normalize:
      lab = _color.normalize_lab(lab)
    out[k] = lab[..., :1] if l_only else lab
  return out


# --- Exposure / contrast ----------------------------------------------------


@register("exposure")
def exposure(batch: Batch, key: jax.Array, ev=(-2.0, 1.5), contrast=(0.5, 1.2), gamma=1.0,
             clip: bool = True) -> Batch:
  """Over/under exposure and contrast change (contrast-correction input).

  y = ((x * 2**ev) ** gamma - m) * contrast + m, with m the per-image mean of
  the exposed image; each parameter is a scalar or a per-image (lo, hi) range.
  Over-exposure saturates at 1 when `clip` (what a camera records).
  """
  x = batch["input"]
  k1, k2, k3 = jax.random.split(key, 3)
  n = x.shape[0]
  y = jnp.maximum(x, 0.0) * _bcast(2.0 ** per_image(k1, ev, n))
  y = jnp.power(y, _bcast(per_image(k3, gamma, n)))
  m = jnp.mean(y, axis=(1, 2, 3), keepdims=True)
  y = (y - m) * _bcast(per_image(k2, contrast, n)) + m
  if clip:
    y = jnp.clip(y, 0.0, 1.0)
  return {**batch, "input": y}
