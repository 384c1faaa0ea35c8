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

from enhance_jax.registry import Registry

DEGRADATIONS = Registry("degradation")
register = DEGRADATIONS.register

Batch = dict[str, jax.Array]


def parse_spec(spec: str) -> list[tuple[str, dict]]:
  """'a(x=1)|b' -> [('a', {'x': 1}), ('b', {})]. Empty spec -> []."""
  ops = []
  for part in filter(None, (p.strip() for p in (spec or "").split("|"))):
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

  def apply(batch: Batch, key: jax.Array) -> Batch:
    batch = dict(batch)
    batch.setdefault("input", batch["target"])
    for i, (fn, kwargs, _) in enumerate(ops):
      batch = fn(batch, jax.random.fold_in(key, i), **kwargs)
    return batch

  apply.spec = spec
  return apply


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
