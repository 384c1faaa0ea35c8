"""Pure step functions: `(state, batch) -> (state, metrics)` and the eval step.

A batch is a dict of NHWC float32 arrays in [0, 1]: 'target' and, for truly
paired data, 'input'. Degradation, forward, loss, update and EMA all happen in
the compiled graph; the host only feeds batches and reads metrics.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from enhance_jax import self_ensemble as ensemble_lib
from enhance_jax.metrics import image_quality
from enhance_jax.training.state import TrainState, update_ema


def _model_extras(batch: dict, keys: tuple[str, ...]) -> dict:
  return {k: batch[k] for k in keys}


def apply_gradients(tx: optax.GradientTransformation, grads, loss: jax.Array, params, opt_state,
                    model_state: dict, new_model_state: dict, skip_nonfinite: bool = True):
  """One optimizer update, dropped when the loss or a gradient is not finite.

  Returns (params, opt_state, model_state, grad_norm, finite). When
  `skip_nonfinite` and the check fails, the old params, optimizer and model
  state come back unchanged. The guarded update runs under `lax.cond`: on CPU
  that is 3.5x faster for a 31 M-parameter Adam step than selecting every leaf
  with `jnp.where`, which XLA does not fuse with the update (BENCHMARKS.md).
  """
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)

  def update(carry):
    params, opt_state, _ = carry
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, new_model_state

  old = (params, opt_state, model_state)
  new = jax.lax.cond(finite, update, lambda carry: carry, old) if skip_nonfinite else update(old)
  return (*new, grad_norm, finite)


def train_step(state: TrainState, batch: dict, *, model, tx: optax.GradientTransformation,
               loss_fn: Callable, degrade: Callable, lr_schedule: Callable,
               extra_inputs: tuple[str, ...] = (), ema_decay: float = 0.0,
               skip_nonfinite: bool = True, ema_warmup: bool = False
               ) -> tuple[TrainState, dict]:
  """One regression update.

  The step's key is `fold_in(state.rng, state.step)`, split for the
  degradation and dropout, so a run is a pure function of (seed, data). A
  non-finite loss or gradient never reaches the parameters when
  `skip_nonfinite`: the update is dropped and `bad_step` records the first
  such step (the loop stops or continues as configured). A loss with `needs`
  (`losses.build`) also gets the model's input and the intermediates it sows
  under those names (Zero-DCE's curve maps), so it may ignore the target.
  """
  key = jax.random.fold_in(state.rng, state.step)
  k_degrade, k_dropout = jax.random.split(key)
  batch = degrade(batch, k_degrade)
  needs = tuple(getattr(loss_fn, "needs", ()))  # e.g. Zero-DCE's ('input', 'curves')
  sown = tuple(k for k in needs if k != "input")
  mutable = list(state.model_state.keys()) + (["intermediates"] if sown else [])

  def compute_loss(params):
    out = model.apply({"params": params, **state.model_state}, batch["input"], train=True,
                      rngs={"dropout": k_dropout}, mutable=mutable or False,
                      **_model_extras(batch, extra_inputs))
    pred, new_model_state = out if mutable else (out, {})
    if not needs:
      loss, parts = loss_fn(pred, batch["target"])
      return loss, (parts, new_model_state)
    inter = new_model_state.get("intermediates", {})
    new_model_state = {k: v for k, v in new_model_state.items() if k != "intermediates"}
    context = {"input": batch["input"]}
    for k in sown:
      if k not in inter:
        raise ValueError(f"The loss needs {k!r}, which {type(model).__name__} does not sow "
                         f"(its intermediates: {sorted(inter)}).")
      context[k] = inter[k][0]
    loss, parts = loss_fn(pred, batch["target"], context)
    return loss, (parts, new_model_state)

  (loss, (parts, new_model_state)), grads = jax.value_and_grad(compute_loss, has_aux=True)(
      state.params)
  new_params, new_opt_state, new_model_state, grad_norm, finite = apply_gradients(
      tx, grads, loss, state.params, state.opt_state, state.model_state, new_model_state,
      skip_nonfinite)
  ema, ema_ms = update_ema(state, new_params, new_model_state, ema_decay, ema_warmup)
  bad_step = jnp.where((state.bad_step < 0) & ~finite, state.step, state.bad_step)
  new_state = state.replace(step=state.step + 1, params=new_params, model_state=new_model_state,
                            opt_state=new_opt_state, ema_params=ema, bad_step=bad_step,
                            ema_model_state=ema_ms)
  metrics = {"loss": loss, "grad_norm": grad_norm, "learning_rate": lr_schedule(state.step),
             **{f"loss_{k}": v for k, v in parts.items()}}
  return new_state, metrics


def degrade_per_image(degrade: Callable, batch: dict, keys: jax.Array) -> dict:
  """Applies `degrade` to each image with its own key (keys: [N, 2] uint32), so
  an image's degradation does not depend on how images are batched."""
  one = lambda b, k: jax.tree.map(lambda a: a[0], degrade(jax.tree.map(lambda a: a[None], b), k))
  return jax.vmap(one)(batch, keys)


def eval_step(variables: dict, batch: dict, keys: jax.Array, *, model, degrade: Callable,
              protocol: image_quality.Protocol, extra_inputs: tuple[str, ...] = (),
              self_ensemble: bool = False) -> tuple[jax.Array, jax.Array, dict]:
  """Degrades (image i with keys[i]), enhances and scores one batch.

  `self_ensemble`: the output is the x8 flip/rotation ensemble (`enhance_jax.self_ensemble`).

  Returns (input, output, metrics): NHWC input and output (output clipped to
  [0, 1]) and per-image metrics, shape [N]: psnr, ssim and, when input and
  target have the same shape (or the input is gray and the target RGB),
  input_psnr and input_ssim.
  """
  batch = degrade_per_image(degrade, batch, keys)
  apply = lambda x, **kw: model.apply(variables, x, train=False, **kw)  # noqa: E731
  extras = _model_extras(batch, extra_inputs)
  if self_ensemble:
    pred = ensemble_lib.x8(apply, batch["input"], **extras)
  else:
    pred = apply(batch["input"], **extras)
  pred = jnp.clip(pred.astype(jnp.float32), 0.0, 1.0)
  metrics = image_quality.psnr_ssim(pred, batch["target"], protocol)
  x, y = batch["input"], batch["target"]
  if x.shape[:3] == y.shape[:3] and x.shape[-1] in (1, y.shape[-1]):
    # A gray input beside an RGB target is the colourless baseline (colorization).
    inp = image_quality.psnr_ssim(jnp.clip(jnp.broadcast_to(x, y.shape), 0.0, 1.0), y, protocol)
    metrics.update({f"input_{k}": v for k, v in inp.items()})
  return batch["input"], pred, metrics
