"""What the trainer optimises: the task named by `config.task`.

A task, built from the config by `build`, gives the loop three things and the
loop builds nothing else:
  - `init_state(mesh)`: the step-0 state on the mesh (parameters from
    `config.init_checkpoint` or the seed's 'params' key), sharded by
    `state_sharding` (the FSDP rule of `config.mesh` for every task);
  - `step_fn()`: the pure `(state, batch) -> (state, metrics)` to jit;
  - `eval_variables(state, use_ema)`: the variables of `model` to evaluate.
`model` is the network that is evaluated and applied (a GAN's generator).
"""
from __future__ import annotations

import abc
import functools
from typing import Callable

import jax.numpy as jnp
import ml_collections

from enhance_jax import models
from enhance_jax.training import adversarial, components, losses, optim, steps
from enhance_jax.training import mesh as mesh_lib
from enhance_jax.training import state as state_lib


class Task(abc.ABC):
  """The interface; subclasses define `fresh_state` and `step_fn`."""

  def __init__(self, config: ml_collections.ConfigDict, model, num_steps: int):
    self.config, self.model, self.num_steps = config, model, int(num_steps)
    self.degrade = components.degrade(config)
    self.extra_inputs = models.extra_inputs(model)

  @abc.abstractmethod
  def fresh_state(self) -> state_lib.TrainState:
    """The step-0 state as host/default-device arrays."""

  @abc.abstractmethod
  def step_fn(self, skip_nonfinite: bool = True) -> Callable:
    """The pure `(state, batch) -> (state, metrics)` with everything bound."""

  def state_sharding(self, state, mesh):
    """FSDP shardings (`mesh.state_sharding`, `config.mesh.min_shard_size`)."""
    return mesh_lib.state_sharding(state, mesh, int(self.config.mesh.min_shard_size))

  def init_state(self, mesh):
    """`fresh_state()` placed on `mesh` with `state_sharding`."""
    state = self.fresh_state()
    return mesh_lib.place(state, self.state_sharding(state, mesh))

  def eval_variables(self, state, use_ema: bool) -> dict:
    """Flax variables of `self.model` (EMA parameters when asked and present)."""
    return state.variables(use_ema=use_ema)


class Regression(Task):
  """Supervised enhancement: `config.loss` on (model(input), target),
  `config.optimizer`, EMA `config.train.ema_decay`."""

  def __init__(self, config, model, num_steps):
    super().__init__(config, model, num_steps)
    self.tx, self.lr_schedule = optim.build(config.optimizer, self.num_steps)
    self.loss_fn = losses.build(config.loss)

  def fresh_state(self) -> state_lib.TrainState:
    c = self.config
    return state_lib.TrainState.create(components.initial_variables(c, self.model), self.tx,
                                       c.seed, ema=c.train.ema_decay > 0)

  def step_fn(self, skip_nonfinite: bool = True) -> Callable:
    return functools.partial(
        steps.train_step, model=self.model, tx=self.tx, loss_fn=self.loss_fn,
        degrade=self.degrade, lr_schedule=self.lr_schedule, extra_inputs=self.extra_inputs,
        ema_decay=float(self.config.train.ema_decay),
        ema_warmup=bool(self.config.train.ema_warmup), skip_nonfinite=skip_nonfinite)


class GAN(Task):
  """Adversarial training (training/adversarial.py): `model` is the generator
  with `config.optimizer` and reconstruction loss `config.loss`; `config.gan`
  names the discriminator, its optimizer and the GAN loss."""

  def __init__(self, config, model, num_steps):
    super().__init__(config, model, num_steps)
    gan = config.gan
    adversarial._check_loss(gan.loss)
    if int(gan.d_steps) < 1:
      raise ValueError(f"config.gan.d_steps={gan.d_steps}: must be >= 1.")
    sample = components.sample_input(config)
    if gan.conditional and sample["input"].shape[:3] != sample["target"].shape[:3]:
      raise ValueError("config.gan.conditional=True needs input and target of the same size "
                       f"(got {sample['input'].shape} and {sample['target'].shape}); set it "
                       "False for super-resolution.")
    self.discriminator = adversarial.discriminator(config)
    self.g_tx, self.g_lr = optim.build(config.optimizer, self.num_steps)
    self.d_tx, self.d_lr = optim.build(gan.optimizer, self.num_steps * int(gan.d_steps))
    self.recon_fn = adversarial.recon_loss(config)

  def fresh_state(self) -> adversarial.GANState:
    c = self.config
    sample = components.sample_input(c)
    target = jnp.zeros(sample["target"].shape, jnp.float32)
    cond = jnp.zeros(sample["input"].shape, jnp.float32) if c.gan.conditional else None
    d_vars = state_lib.init_variables(self.discriminator, c.seed, target, cond,
                                      stream="discriminator")
    return adversarial.create_gan_state(components.initial_variables(c, self.model), d_vars,
                                        self.g_tx, self.d_tx, c.seed, ema=c.train.ema_decay > 0)

  def step_fn(self, skip_nonfinite: bool = True) -> Callable:
    gan = self.config.gan
    return functools.partial(
        adversarial.adversarial_step, generator=self.model, discriminator=self.discriminator,
        g_tx=self.g_tx, d_tx=self.d_tx, recon_fn=self.recon_fn, degrade=self.degrade,
        g_lr=self.g_lr, d_lr=self.d_lr, gan_loss=gan.loss, adv_weight=float(gan.adv_weight),
        d_steps=int(gan.d_steps), real_label=adversarial.label_range(gan.real_label),
        fake_label=adversarial.label_range(gan.fake_label), flip_prob=float(gan.flip_prob),
        r1_weight=float(gan.r1_weight), conditional=bool(gan.conditional),
        extra_inputs=self.extra_inputs, ema_decay=float(self.config.train.ema_decay),
        ema_warmup=bool(self.config.train.ema_warmup),
        skip_nonfinite=skip_nonfinite)


TASKS = {"regression": Regression, "gan": GAN}


def build(config: ml_collections.ConfigDict, model=None, num_steps: int | None = None) -> Task:
  """The task `config.task` for `model` (default `components.model(config)`)
  over `num_steps` (default `config.train.num_steps`)."""
  if config.task not in TASKS:
    raise ValueError(f"config.task={config.task!r}: use one of {', '.join(TASKS)}.")
  model = components.model(config) if model is None else model
  steps_ = int(config.train.num_steps) if num_steps is None else int(num_steps)
  return TASKS[config.task](config, model, steps_)
