"""Zero-DCE's zero-reference losses (Guo et al., CVPR 2020), as pure JAX functions.

They score an enhanced image against its own low-light input and the curve
maps that produced it, never against a reference, so Zero-DCE trains on
unpaired low-light images. As in the official code (`Myloss.py`,
`lowlight_train.py`), with `e` the enhanced and `x` the input image, NHWC RGB
in [0, 1], and `A` the curve maps (N, H, W, 8*3):

  spatial consistency  L_spa: channel means, 4x4 average-pooled (non-overlapping,
      remainder dropped); for each of the 4 neighbours (left, right, up, down;
      zero outside the pooled map) the difference to the neighbour, squared
      difference of those between `x` and `e`, summed over the 4 directions,
      averaged.
  exposure control     L_exp: channel means, 16x16 average-pooled, mean of
      (pooled - E)^2 with well-exposedness E = 0.6.
  colour constancy     L_col: per image and channel the spatial mean m; with
      d_rg = (m_r - m_g)^2, d_rb = (m_r - m_b)^2, d_gb = (m_b - m_g)^2,
      sqrt(d_rg^2 + d_rb^2 + d_gb^2), averaged over the batch.
  illumination smoothness L_tvA (on A): 2 (sum dy^2 / ((H-1) W) +
      sum dx^2 / (H (W-1))) / N, summed over all channels.

  L = 200 L_tvA + 1 L_spa + 5 L_col + 10 L_exp            (`zero_dce_loss`)

`zero_dce_loss` is registered in `losses.LOSSES` as "zero_dce": a loss that
needs the model's input and its sown 'curves' (see `losses.build`), so the
regression step trains Zero-DCE on images without targets.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from enhance_jax.training import losses

WEIGHTS = {"tv": 200.0, "spa": 1.0, "col": 5.0, "exp": 10.0}  # official lowlight_train.py
EXPOSURE = 0.6
EXPOSURE_PATCH = 16
SPATIAL_POOL = 4


def _check_rgb(x: jax.Array, name: str) -> None:
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"{name}: expects NHWC RGB images, got shape {x.shape}.")


def avg_pool(x: jax.Array, k: int) -> jax.Array:
  """Non-overlapping k x k mean (stride k, trailing rows/columns dropped), NHWC."""
  n, h, w, c = x.shape
  ho, wo = h // k, w // k
  if not ho or not wo:
    raise ValueError(f"avg_pool: a {h}x{w} image is smaller than the {k}x{k} window.")
  x = x[:, :ho * k, :wo * k]
  return x.reshape(n, ho, k, wo, k, c).mean(axis=(2, 4))


def _neighbour_differences(y: jax.Array) -> tuple[jax.Array, ...]:
  """y - its left, right, upper and lower neighbour (zero outside), NHWC."""
  p = jnp.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
  h, w = y.shape[1], y.shape[2]
  return (y - p[:, 1:h + 1, 0:w], y - p[:, 1:h + 1, 2:w + 2],
          y - p[:, 0:h, 1:w + 1], y - p[:, 2:h + 2, 1:w + 1])


def spatial_consistency(enhanced: jax.Array, original: jax.Array,
                        pool: int = SPATIAL_POOL) -> jax.Array:
  """L_spa: neighbour contrasts of the pooled luminance kept from input to output."""
  _check_rgb(enhanced, "spatial_consistency")
  e = avg_pool(jnp.mean(enhanced, axis=-1, keepdims=True), pool)
  o = avg_pool(jnp.mean(original, axis=-1, keepdims=True), pool)
  total = sum(jnp.square(do - de)
              for do, de in zip(_neighbour_differences(o), _neighbour_differences(e)))
  return jnp.mean(total)


def exposure_control(enhanced: jax.Array, level: float = EXPOSURE,
                     patch: int = EXPOSURE_PATCH) -> jax.Array:
  """L_exp: mean squared distance of 16x16 patch luminance to the level E."""
  _check_rgb(enhanced, "exposure_control")
  m = avg_pool(jnp.mean(enhanced, axis=-1, keepdims=True), patch)
  return jnp.mean(jnp.square(m - level))


def color_constancy(enhanced: jax.Array) -> jax.Array:
  """L_col: the grey-world deviation of the channel means, batch mean."""
  _check_rgb(enhanced, "color_constancy")
  m = jnp.mean(enhanced, axis=(1, 2))  # (N, 3)
  r, g, b = m[:, 0], m[:, 1], m[:, 2]
  d_rg, d_rb, d_gb = jnp.square(r - g), jnp.square(r - b), jnp.square(b - g)
  return jnp.mean(jnp.sqrt(jnp.square(d_rg) + jnp.square(d_rb) + jnp.square(d_gb)))


def illumination_smoothness(curves: jax.Array) -> jax.Array:
  """L_tvA: total variation of the curve maps (N, H, W, K), official normalisation."""
  n, h, w, _ = curves.shape
  dy = jnp.sum(jnp.square(curves[:, 1:] - curves[:, :-1]))
  dx = jnp.sum(jnp.square(curves[:, :, 1:] - curves[:, :, :-1]))
  return 2.0 * (dy / ((h - 1) * w) + dx / (h * (w - 1))) / n


def zero_dce_terms(enhanced: jax.Array, original: jax.Array, curves: jax.Array) -> dict:
  """The four unweighted terms {'tv', 'spa', 'col', 'exp'} (float32 scalars)."""
  enhanced = enhanced.astype(jnp.float32)
  return {"tv": illumination_smoothness(curves.astype(jnp.float32)),
          "spa": spatial_consistency(enhanced, original.astype(jnp.float32)),
          "col": color_constancy(enhanced),
          "exp": exposure_control(enhanced)}


def zero_dce_total(enhanced: jax.Array, original: jax.Array, curves: jax.Array,
                   weights: dict | None = None) -> jax.Array:
  """200 L_tvA + L_spa + 5 L_col + 10 L_exp (official weights unless `weights`)."""
  w = {**WEIGHTS, **(weights or {})}
  terms = zero_dce_terms(enhanced, original, curves)
  return sum(w[k] * v for k, v in terms.items())


@losses.register("zero_dce")
def zero_dce_loss(pred: jax.Array, target: jax.Array, *, input: jax.Array,  # noqa: A002
                  curves: jax.Array) -> jax.Array:
  """The loss spec term "zero_dce": `zero_dce_total(pred, input, curves)`; the
  target is not used (unpaired training)."""
  del target
  return zero_dce_total(pred, input, curves)


zero_dce_loss.needs = ("input", "curves")
