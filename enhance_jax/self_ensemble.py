"""Test-time x8 self-ensemble (geometric ensemble, Timofte et al. 2016; KAIR's `test_mode=3`,
mmagic's `ensemble`): the model sees the input under the 8 flips/rotations of the dihedral group,
each output is mapped back and the 8 are averaged. Pure and jittable: it runs inside the eval
step and the Enhancer's compiled forward.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

# (k, flip): the image is flipped left-right first (when flip), then rotated k quarter turns.
TRANSFORMS = tuple((k, flip) for flip in (False, True) for k in range(4))


def transform(x: jax.Array, k: int, flip: bool) -> jax.Array:
  """x: [N, H, W, C] -> the transformed image ([N, W, H, C] for odd k)."""
  if flip:
    x = jnp.flip(x, axis=2)
  return jnp.rot90(x, k, axes=(1, 2))


def inverse(y: jax.Array, k: int, flip: bool) -> jax.Array:
  """Undoes `transform` (for any output size, e.g. an SR output scale x the input)."""
  y = jnp.rot90(y, -k, axes=(1, 2))
  return jnp.flip(y, axis=2) if flip else y


def x8(apply: Callable[..., jax.Array], x: jax.Array, **extras) -> jax.Array:
  """The mean over the 8 transforms t of inverse_t(apply(t(x), **extras_t)).

  x: [N, H, W, C] float. `extras` are the model's other inputs: image-shaped ones (4-D, e.g. a
  mask [N, H, W, 1]) are transformed with x, per-image ones ([N], e.g. FFDNet's noise level)
  repeated. `apply` returns [N, sH, sW, C'] (s = 1 or the SR scale); the result has its shape.
  The four transforms of each orientation run as one batch of 4N (two model calls in all).
  """
  n = x.shape[0]
  outs = []
  for odd in (0, 1):
    group = [t for t in TRANSFORMS if t[0] % 2 == odd]
    xs = jnp.concatenate([transform(x, k, f) for k, f in group])
    kw = {}
    for name, v in extras.items():
      if v.ndim == 4:
        kw[name] = jnp.concatenate([transform(v, k, f) for k, f in group])
      else:
        kw[name] = jnp.concatenate([v] * len(group))
    ys = apply(xs, **kw)
    outs += [inverse(ys[i * n:(i + 1) * n], k, f) for i, (k, f) in enumerate(group)]
  return sum(o.astype(jnp.float32) for o in outs) / len(outs)
