"""Pixel losses and their weighted sums, from a config string.

Each loss is `fn(pred, target) -> scalar` on NHWC float32 batches in [0, 1].
`build("0.84*ssim+0.16*l1")` returns `fn(pred, target) -> (total, parts)` where
`parts` maps each term's name to its unweighted value (for logging).

A loss may declare that it needs more than (pred, target): `fn.needs` names
keyword arguments, 'input' (the model's input batch) or an intermediate the
model sows (e.g. Zero-DCE's 'curves'). The built loss then has `.needs` (the
union over its terms) and is called as `fn(pred, target, context)` with
`context` holding those names; the training step provides them
(`steps.train_step`). Zero-DCE's zero-reference loss "zero_dce"
(training/zero_reference.py) is such a loss and ignores the target.
"""
from __future__ import annotations

import re
from typing import Callable

import dm_pix
import jax
import jax.numpy as jnp

from enhance_jax.data.color import rgb_to_ycbcr
from enhance_jax.registry import Registry

LOSSES = Registry("loss")
register = LOSSES.register


@register("l1")
def l1(pred: jax.Array, target: jax.Array) -> jax.Array:
  return jnp.mean(jnp.abs(pred - target))


@register("l2")
def l2(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error (also registered as 'mse')."""
  return jnp.mean(jnp.square(pred - target))


LOSSES.register("mse")(l2)


@register("mse_y")
def mse_y(pred: jax.Array, target: jax.Array) -> jax.Array:
  """MSE on the luma the SR benchmarks score: MATLAB `rgb2ycbcr` Y (in [16, 235] / 255) of RGB
  batches; a 1-channel batch is taken as that Y already. A Y-only model (SRCNN, color='y')
  keeps the input's Cb/Cr, so an RGB loss would also push its Y to offset chroma errors."""
  if pred.shape[-1] == 3:
    pred, target = rgb_to_ycbcr(pred)[..., :1], rgb_to_ycbcr(target)[..., :1]
  return l2(pred, target)


@register("mse_center5")
def mse_center5(pred: jax.Array, target: jax.Array, size: int = 5) -> jax.Array:
  """MSE on the central size x size pixels of each patch (rows/cols from H//2 - size//2):
  NLRN's training loss (the authors' code, models/nlrn.py), on the unclipped [0, 1] output."""
  h, w = pred.shape[1], pred.shape[2]
  i, j = h // 2 - size // 2, w // 2 - size // 2
  return l2(pred[:, i:i + size, j:j + size], target[:, i:i + size, j:j + size])


@register("charbonnier")
def charbonnier(pred: jax.Array, target: jax.Array, eps: float = 1e-3) -> jax.Array:
  return jnp.mean(jnp.sqrt(jnp.square(pred - target) + eps * eps))


@register("ssim")
def ssim_loss(pred: jax.Array, target: jax.Array) -> jax.Array:
  """1 - SSIM (Gaussian 11x11, sigma 1.5); patches must be at least 11 pixels."""
  return 1.0 - jnp.mean(dm_pix.ssim(pred, target, max_val=1.0))


@register("psnr")
def neg_psnr(pred: jax.Array, target: jax.Array) -> jax.Array:
  """-PSNR/100 of the batch (a log-MSE loss, scaled to be comparable to L1)."""
  return jnp.log10(jnp.mean(jnp.square(pred - target)) + 1e-10) / 10.0


_TERM = re.compile(r"^\s*(?:([0-9.eE+-]+)\s*\*\s*)?([a-z_0-9]+)\s*$")


def build(spec: str, extra: dict[str, Callable] | None = None
          ) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]:
  """A weighted-sum loss from `spec`; `extra` adds losses not in the registry
  (e.g. a perceptual loss bound to loaded VGG weights)."""
  extra = extra or {}
  terms = []
  for part in spec.split("+"):
    m = _TERM.match(part)
    if not m:
      raise ValueError(f"Loss spec {spec!r}: cannot parse term {part!r}; use e.g. '0.5*l1+ssim'.")
    weight, name = m.groups()
    fn = extra[name] if name in extra else LOSSES.lookup(name)
    terms.append((float(weight) if weight else 1.0, name, fn))

  needs = tuple(dict.fromkeys(k for _, _, fn in terms for k in getattr(fn, "needs", ())))

  def loss_fn(pred, target, context=None):
    context = context or {}
    missing = [k for k in needs if k not in context]
    if missing:
      raise ValueError(f"Loss spec {spec!r} needs {', '.join(missing)} besides the prediction "
                       f"and target; call it with a context dict holding them.")
    parts = {name: fn(pred.astype(jnp.promote_types(pred.dtype, jnp.float32)), target,
                      **{k: context[k] for k in getattr(fn, "needs", ())})
             for _, name, fn in terms}
    total = sum(w * parts[name] for w, name, _ in terms)
    return total, parts

  loss_fn.needs = needs
  return loss_fn


from enhance_jax.training import zero_reference  # noqa: E402,F401  (registers "zero_dce")
