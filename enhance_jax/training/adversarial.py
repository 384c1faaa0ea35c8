"""Adversarial training: the GAN state, GAN losses and the pure adversarial step.

The generator is `config.model` and its reconstruction loss `config.loss`
(`losses.build`); `config.gan` names the discriminator, the GAN loss and its
weight, the labels, the D steps per G step and D's optimizer. One iteration
(`adversarial_step`, pure, jitted by the loop with the regression step's
shardings) degrades the batch, makes the fakes once, updates D `d_steps`
times on (real, fake) and then G once against the updated D:

  D: L_D = mean ell(D(real), t_real) + mean ell(D(fake), t_fake) [+ r1/2 E|grad D(real)|^2]
  G: L_G = config.loss(fake, target) + adv_weight * L_adv(D(fake))

with ell and L_adv of 'bce' (non-saturating), 'lsgan' or 'hinge'. Labels t
are per image: soft (uniform in `real_label` / `fake_label` ranges) and noisy
(swapped with probability `flip_prob`). A conditional D (`gan.conditional`)
judges concat(input, image) along channels.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging

from enhance_jax import models
from enhance_jax.training import losses
from enhance_jax.training import state as state_lib
from enhance_jax.training.steps import _model_extras, apply_gradients

GAN_LOSSES = ("bce", "lsgan", "hinge")


# --- State --------------------------------------------------------------------


@flax.struct.dataclass
class GANState(state_lib.TrainState):
  """A `TrainState` for the generator (step = G updates = iterations; params,
  model_state, opt_state, ema_params, rng, bad_step) plus the discriminator's
  d_step (int32, D updates so far), d_params, d_model_state and d_opt_state.
  bad_step is the first iteration whose G or D loss or gradient was not finite
  (-1 if none). G's fields keep their regression names, so `evaluate`/`enhance`
  read a GAN checkpoint like any other. Both networks' parameters, optimizer
  states (and G's EMA) are sharded by the FSDP rule (`SHARDED`)."""
  d_step: jax.Array
  d_params: Any
  d_model_state: Any
  d_opt_state: Any

  SHARDED: ClassVar[tuple[str, ...]] = state_lib.TrainState.SHARDED + ("d_params", "d_opt_state")


def create_gan_state(g_variables: dict, d_variables: dict, g_tx: optax.GradientTransformation,
                     d_tx: optax.GradientTransformation, seed: int, ema: bool) -> GANState:
  """Step 0 from G's and D's variables (`state.init_variables`)."""
  d_vars = dict(d_variables)
  d_params = d_vars.pop("params")
  return GANState.create(g_variables, g_tx, seed, ema, d_step=jnp.zeros((), jnp.int32),
                         d_params=d_params, d_model_state=d_vars, d_opt_state=d_tx.init(d_params))


# --- Losses and labels --------------------------------------------------------


def _check_loss(kind: str) -> None:
  if kind not in GAN_LOSSES:
    raise ValueError(f"config.gan.loss={kind!r}: use one of {', '.join(GAN_LOSSES)}.")


def d_loss_elementwise(logits: jax.Array, targets: jax.Array, kind: str) -> jax.Array:
  """Per-logit D loss for targets t in [0, 1] (1 = real, 0 = fake; soft in between).

  bce: t softplus(-x) + (1 - t) softplus(x) (sigmoid cross-entropy);
  lsgan: (x - t)^2; hinge: t relu(1 - x) + (1 - t) relu(1 + x).
  """
  _check_loss(kind)
  x = logits.astype(jnp.float32)
  if kind == "bce":
    return targets * jax.nn.softplus(-x) + (1.0 - targets) * jax.nn.softplus(x)
  if kind == "lsgan":
    return jnp.square(x - targets)
  return targets * jax.nn.relu(1.0 - x) + (1.0 - targets) * jax.nn.relu(1.0 + x)


def _per_image(t: jax.Array, logits: jax.Array) -> jax.Array:
  """[N] targets broadcast to the logits' shape (N, ...)."""
  return jnp.broadcast_to(t.reshape((-1,) + (1,) * (logits.ndim - 1)), logits.shape)


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array, real_targets: jax.Array,
                       fake_targets: jax.Array, kind: str) -> jax.Array:
  """mean ell(real, t_real) + mean ell(fake, t_fake); targets are [N] per image."""
  return (jnp.mean(d_loss_elementwise(real_logits, _per_image(real_targets, real_logits), kind))
          + jnp.mean(d_loss_elementwise(fake_logits, _per_image(fake_targets, fake_logits), kind)))


def generator_loss(fake_logits: jax.Array, kind: str) -> jax.Array:
  """G's adversarial term: bce mean softplus(-x) (non-saturating), lsgan
  mean (x - 1)^2, hinge -mean x."""
  _check_loss(kind)
  x = fake_logits.astype(jnp.float32)
  if kind == "bce":
    return jnp.mean(jax.nn.softplus(-x))
  if kind == "lsgan":
    return jnp.mean(jnp.square(x - 1.0))
  return -jnp.mean(x)


def d_output(logits: jax.Array, kind: str) -> jax.Array:
  """Mean D output for logging: the probability sigmoid(x) for bce, x otherwise."""
  x = logits.astype(jnp.float32)
  return jnp.mean(jax.nn.sigmoid(x) if kind == "bce" else x)


def labels(key: jax.Array, n: int, real=(1.0, 1.0), fake=(0.0, 0.0), flip_prob: float = 0.0
           ) -> tuple[jax.Array, jax.Array]:
  """Per-image D targets ([N] real, [N] fake).

  `real` / `fake` are scalars or (lo, hi) ranges drawn uniformly per image
  (soft labels; (0.9, 0.9) is one-sided label smoothing). With probability
  `flip_prob` an image's label is swapped for one drawn from the other class
  (noisy labels), independently for the real and the fake batch.
  """
  k = jax.random.split(key, 6)
  draw = lambda kk, v: jax.random.uniform(  # noqa: E731
      kk, (n,), jnp.float32, *((v, v) if np.isscalar(v) else tuple(v)))
  t_real, t_fake = draw(k[0], real), draw(k[1], fake)
  if flip_prob > 0:
    flip_r = jax.random.bernoulli(k[2], flip_prob, (n,))
    flip_f = jax.random.bernoulli(k[3], flip_prob, (n,))
    t_real = jnp.where(flip_r, draw(k[4], fake), t_real)
    t_fake = jnp.where(flip_f, draw(k[5], real), t_fake)
  return t_real, t_fake


# --- The step -----------------------------------------------------------------


def _apply(model, params, model_state, *args, key=None, **kwargs):
  """`model.apply` in train mode -> (float32 output, new model_state)."""
  mutable = list(model_state.keys())
  out = model.apply({"params": params, **model_state}, *args, train=True,
                    rngs={"dropout": key} if key is not None else {},
                    mutable=mutable or False, **kwargs)
  out, new = out if mutable else (out, model_state)
  return out.astype(jnp.float32), new


def adversarial_step(state: GANState, batch: dict, *, generator, discriminator,
                     g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                     recon_fn: Callable, degrade: Callable, g_lr: Callable, d_lr: Callable,
                     gan_loss: str = "bce", adv_weight: float = 1.0, d_steps: int = 1,
                     real_label=(1.0, 1.0), fake_label=(0.0, 0.0), flip_prob: float = 0.0,
                     r1_weight: float = 0.0, conditional: bool = True,
                     extra_inputs: tuple[str, ...] = (), ema_decay: float = 0.0,
                     ema_warmup: bool = False,
                     skip_nonfinite: bool = True) -> tuple[GANState, dict]:
  """One GAN iteration: `d_steps` D updates, then one G update.

  batch: dict of NHWC float32 in [0, 1] ('target', optional 'input'), as the
  regression step. The key is `fold_in(state.rng, state.step)`, split for the
  degradation, G's dropout and D's labels (one sub-key per D update), so the
  run is a pure function of (seed, data). Non-finite updates are dropped per
  network when `skip_nonfinite` and recorded in `bad_step`.
  Metrics (scalars): g_loss, g_adv, loss_<recon term>, d_loss (mean over D
  updates), d_real / d_fake (mean D output on real / fake: probability for bce,
  logit otherwise), r1 (when r1_weight > 0), grad_norm, d_grad_norm,
  learning_rate (G) and d_learning_rate.
  """
  key = jax.random.fold_in(state.rng, state.step)
  k_degrade, k_g, k_d = jax.random.split(key, 3)
  batch = degrade(batch, k_degrade)
  x, y = batch["input"], batch["target"]
  extras = _model_extras(batch, extra_inputs)
  cond = x if conditional else None
  n = y.shape[0]

  def g_forward(params):
    return _apply(generator, params, state.model_state, x, key=k_g, **extras)

  fake = jax.lax.stop_gradient(g_forward(state.params)[0])

  def d_forward(params, model_state, image):
    return _apply(discriminator, params, model_state, image, cond)

  # Discriminator updates.
  d_params, d_ms, d_opt, d_step = state.d_params, state.d_model_state, state.d_opt_state, state.d_step
  d_finite = jnp.array(True)
  d_logs = []
  for i in range(d_steps):
    k_lab = jax.random.fold_in(k_d, i)
    t_real, t_fake = labels(k_lab, n, real_label, fake_label, flip_prob)

    def d_loss_fn(params, model_state):
      real_logits, ms = d_forward(params, model_state, y)
      fake_logits, ms = d_forward(params, ms, fake)
      adv = discriminator_loss(real_logits, fake_logits, t_real, t_fake, gan_loss)
      r1 = jnp.zeros((), jnp.float32)
      if r1_weight:
        grad_x = jax.grad(lambda img: jnp.sum(d_forward(params, model_state, img)[0]))(y)
        r1 = jnp.mean(jnp.sum(jnp.square(grad_x), axis=(1, 2, 3)))
      total = adv + 0.5 * r1_weight * r1
      return total, (ms, adv, r1, d_output(real_logits, gan_loss), d_output(fake_logits, gan_loss))

    (d_total, (new_ms, adv, r1, out_real, out_fake)), grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(d_params, d_ms)
    new_params, new_opt, new_ms, grad_norm, finite = apply_gradients(
        d_tx, grads, d_total, d_params, d_opt, d_ms, new_ms, skip_nonfinite)
    d_finite = d_finite & finite
    d_logs.append({"d_loss": adv, "d_real": out_real, "d_fake": out_fake, "r1": r1,
                   "d_grad_norm": grad_norm, "d_learning_rate": d_lr(d_step)})
    d_params, d_opt, d_ms, d_step = new_params, new_opt, new_ms, d_step + 1

  # Generator update against the updated discriminator (its statistics are
  # used in train mode but not updated by G's pass).
  def g_loss_fn(params):
    pred, new_ms = g_forward(params)
    recon, parts = recon_fn(pred, y)
    logits, _ = d_forward(d_params, d_ms, pred)
    adv = generator_loss(logits, gan_loss)
    return recon + adv_weight * adv, (new_ms, adv, parts)

  (g_total, (g_ms, g_adv, parts)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
      state.params)
  g_params, g_opt, g_ms, g_grad_norm, g_finite = apply_gradients(
      g_tx, grads, g_total, state.params, state.opt_state, state.model_state, g_ms,
      skip_nonfinite)
  ema, ema_ms = state_lib.update_ema(state, g_params, g_ms, ema_decay, ema_warmup)
  ok = g_finite & d_finite
  bad_step = jnp.where((state.bad_step < 0) & ~ok, state.step, state.bad_step)
  new_state = state.replace(step=state.step + 1, params=g_params, model_state=g_ms,
                            opt_state=g_opt, ema_params=ema, ema_model_state=ema_ms,
                            bad_step=bad_step, d_step=d_step,
                            d_params=d_params, d_model_state=d_ms, d_opt_state=d_opt)
  d_mean = {k: jnp.mean(jnp.stack([m[k] for m in d_logs])) for k in d_logs[0]}
  d_mean["d_learning_rate"] = d_logs[-1]["d_learning_rate"]
  if not r1_weight:
    d_mean.pop("r1")
  metrics = {"g_loss": g_total, "g_adv": g_adv, **{f"loss_{k}": v for k, v in parts.items()},
             **d_mean, "grad_norm": g_grad_norm, "learning_rate": g_lr(state.step)}
  return new_state, metrics


# --- Building from a config ---------------------------------------------------


def discriminator(config: ml_collections.ConfigDict):
  """The registered discriminator `config.gan.disc.name` with its kwargs (and
  the compute dtype `config.train.dtype`, as the generator)."""
  kwargs = dict(config.gan.disc.kwargs)
  if config.train.dtype != "float32":
    kwargs.setdefault("dtype", jnp.dtype(config.train.dtype))
  return models.get(config.gan.disc.name, **kwargs)


def recon_loss(config: ml_collections.ConfigDict) -> Callable:
  """`losses.build(config.loss)`, plus `gan.perceptual_weight` x a VGG
  perceptual loss when `gan.vgg_weights` loads (else a warning, no term)."""
  gan = config.gan
  spec, extra = config.loss, {}
  w = float(gan.perceptual_weight)
  if w > 0:
    from enhance_jax.metrics import vgg
    path, depth = gan.vgg_weights, int(gan.vgg_depth)
    try:
      if not path:
        raise FileNotFoundError("config.gan.vgg_weights is empty")
      params = vgg.load_params(path, depth)
    except (FileNotFoundError, ValueError) as e:
      msg = f"Perceptual loss off: {e}. Set config.gan.vgg_weights to a VGG{depth} .npz/.pth."
      logging.warning(msg)
      print(f"warning: {msg}", flush=True)
    else:
      layers = tuple(gan.perceptual_layers)
      feats = vgg.make_features_fn(jax.tree.map(jnp.asarray, params), depth, last=layers[-1])
      extra["perceptual"] = lambda p, t: vgg.perceptual_loss(feats, p, t, layers)
      spec = f"{spec}+{w}*perceptual"
  return losses.build(spec, extra)


def label_range(v) -> tuple[float, float]:
  """A config label (scalar or (lo, hi)) as a (lo, hi) float tuple."""
  if np.isscalar(v):
    return (float(v), float(v))
  lo, hi = v
  return (float(lo), float(hi))
