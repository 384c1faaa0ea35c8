"""`train_and_evaluate`: the one training loop every config runs through."""
from __future__ import annotations

import functools
import signal
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import logging

from enhance_jax import models
from enhance_jax.data import pipeline
from enhance_jax.training import adversarial, checkpointing, components, evaluation, logs
from enhance_jax.training import losses, optim, steps
from enhance_jax.training import mesh as mesh_lib
from enhance_jax.training import state as state_lib


class NonFiniteLossError(FloatingPointError):
  """The loss or a gradient became NaN/Inf and config.train.nan_policy is 'stop'."""


class _StopSignal:
  """Records SIGTERM/SIGINT so the loop can checkpoint and exit cleanly."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:  # second signal: give up at once
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _state_sharding(config: ml_collections.ConfigDict, state, mesh):
  """FSDP-style shardings (config.mesh) for a TrainState; a GAN state is replicated."""
  if not isinstance(state, state_lib.TrainState):
    return jax.tree.map(lambda _: mesh_lib.replicated(mesh), state)
  return mesh_lib.state_sharding(state, mesh, int(config.get("mesh", {}).get("min_shard_size", 0)))


def create_state(config: ml_collections.ConfigDict, model, tx, mesh) -> state_lib.TrainState:
  """A fresh state on the mesh (from `config.init_checkpoint` when set)."""
  init = None
  if config.get("init_checkpoint", ""):
    init, _ = components.load_inference_variables(config, model, workdir=None)
  else:
    init = components.init_variables(config, model)
  sample = components.sample_input(config)
  state = state_lib.create_train_state(model, tx, np.zeros(sample["input"].shape, np.float32),
                                       config.seed, ema=config.train.ema_decay > 0,
                                       variables=init)
  return mesh_lib.place(state, _state_sharding(config, state, mesh))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint.

  `devices` restricts the mesh (default: every device of every process).
  Writes checkpoints/, metrics.jsonl, tensorboard/, eval_metrics.json and
  eval_grid.png into `workdir`; returns the final evaluation summary.
  """
  workdir = Path(workdir).resolve()
  workdir.mkdir(parents=True, exist_ok=True)
  is_main = jax.process_index() == 0
  mesh = mesh_lib.make_mesh(devices, fsdp=int(config.get("mesh", {}).get("fsdp", 1)))
  model = components.model(config)
  extra_inputs = models.extra_inputs(model)
  degrade = components.degrade(config)
  loss_fn = losses.build(config.loss)
  num_steps = int(config.train.num_steps)
  tx, lr_schedule = optim.build(config.optimizer, num_steps)
  global_batch = int(config.train.batch_size)
  mesh_lib.check_batch_size(global_batch, mesh)
  if config.train.nan_policy not in ("stop", "skip"):
    raise ValueError(f"config.train.nan_policy={config.train.nan_policy!r}: use 'stop' or 'skip'.")

  train_source = components.source(config, config.data.train_split)
  eval_source = components.source(config, config.data.eval_split)
  eval_batches = pipeline.eval_batches(eval_source, config.data, config.eval.get("batch_size", 1),
                                       mesh_lib.data_size(mesh), config.eval.seed)

  gan = adversarial.Setup(config, model, num_steps) if adversarial.enabled(config) else None
  state = gan.create_state(mesh) if gan else create_state(config, model, tx, mesh)
  ckpt = checkpointing.Checkpointer(workdir / "checkpoints", keep=config.train.keep_checkpoints)
  latest = ckpt.latest_step()
  if latest is not None:
    state = ckpt.restore(state)
    logging.info("Resumed from %s", ckpt.path(latest))
    if is_main:
      print(f"Resuming from step {latest} ({ckpt.path(latest)})", flush=True)
  start_step = int(jax.device_get(state.step))

  state_sharding = _state_sharding(config, state, mesh)
  batch_sharding = mesh_lib.batch_sharded(mesh)
  step_fn = functools.partial(
      steps.train_step, model=model, tx=tx, loss_fn=loss_fn, degrade=degrade,
      lr_schedule=lr_schedule, extra_inputs=extra_inputs, ema_decay=config.train.ema_decay,
      skip_nonfinite=True)
  if gan:  # the adversarial step (both networks) replaces the regression one
    step_fn = gan.step_fn(degrade, extra_inputs)
  train_step = jax.jit(step_fn, in_shardings=(state_sharding, batch_sharding),
                       out_shardings=(state_sharding, mesh_lib.replicated(mesh)),
                       donate_argnums=(0,))
  eval_fn = evaluation.make_eval_fn(model, degrade, components.protocol(config), extra_inputs, mesh)
  fid_variables = None
  if config.eval.get("fid_weights", ""):
    from enhance_jax.metrics import fid
    fid_variables = fid.maybe_load_variables(config.eval.fid_weights)

  writer = logs.MetricWriter(workdir)
  progress = logs.Progress(num_steps, start_step)
  batches = pipeline.train_batches(train_source, config.data, config.seed, global_batch,
                                   mesh_lib.process_rows(global_batch, mesh), start_step)
  batches = pipeline.prefetch_to_device(batches, lambda b: mesh_lib.global_batch(b, mesh),
                                        config.data.device_prefetch)
  pending: list[dict] = []
  summary: dict = {}

  def run_eval(step: int) -> dict:
    variables = state.variables(use_ema=config.eval.use_ema)
    result, per_image, samples = evaluation.evaluate(
        eval_fn, variables, eval_batches, mesh, config.eval.seed,
        keep_images=config.eval.grid_images,
        ssim_threshold=float(config.eval.get("ssim_threshold", 0.0)), fid_variables=fid_variables)
    writer.write(step, "eval", result)
    if is_main:
      evaluation.write_grid(workdir / "eval_grid.png", samples)
      logs.write_json(workdir / "eval_metrics.json", {"step": step, **result, "per_image": per_image})
      print(f"eval @ step {step}: " + ", ".join(
          f"{k} {v:.4f}" for k, v in result.items() if k != "num_images"), flush=True)
    return result

  def check_finite(step: int) -> None:
    bad = int(jax.device_get(state.bad_step))
    if bad >= 0 and config.train.nan_policy == "stop":
      ckpt.wait()  # an async save in flight must be complete before it is named
      last = ckpt.latest_step()
      where = ckpt.path(last) if last is not None else "none (no checkpoint saved yet)"
      raise NonFiniteLossError(  # bad_step is state.step before the update: log step bad + 1
          f"Non-finite loss or gradient at step {bad + 1} (detected by step {step}); the update "
          f"was not applied. Last good checkpoint: {where}. Lower the learning rate or set "
          "config.train.nan_policy='skip'.")

  stopped = None
  with _StopSignal() as stop:
    step = start_step
    t_start = time.perf_counter()
    for step in range(start_step + 1, num_steps + 1):
      state, metrics = train_step(state, next(batches))
      pending.append(metrics)
      last = step == num_steps
      if step % config.train.log_every == 0 or last:
        host = jax.device_get(pending)
        pending = []
        mean = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
        mean["steps_per_s"] = progress.update(step, mean)
        writer.write(step, "train", mean)
        check_finite(step)  # after logging, so the bad step's loss line is shown
      if step % config.train.eval_every == 0 or last:
        summary = run_eval(step)
      if step % config.train.checkpoint_every == 0 or last:
        check_finite(step)
        ckpt.save(state)
      if _stop_requested(stop, every_step=step % config.train.log_every == 0):
        stopped = stop.received or "a stop signal on another process"
        check_finite(step)
        ckpt.save(state, force=True)
        ckpt.wait()
        if is_main:
          print(f"Received {stopped}: saved checkpoint {ckpt.path(step)}; exiting.", flush=True)
        break
    ckpt.close()
    writer.close()

  if is_main and stopped is None:
    elapsed = time.perf_counter() - t_start
    print(f"Done: {num_steps - start_step} steps in {elapsed:.0f}s. Workdir {workdir}:\n"
          f"  checkpoint  {ckpt.path(num_steps)}\n"
          f"  metrics     {workdir / 'metrics.jsonl'}, {workdir / 'eval_metrics.json'}\n"
          f"  image grid  {workdir / 'eval_grid.png'} (input | output | target)\n"
          f"  tensorboard {workdir / 'tensorboard'}", flush=True)
  if stopped is not None:
    raise SystemExit(f"Stopped by {stopped} at step {step}; resume by running the same "
                     "command again.")
  return summary


def _stop_requested(stop: _StopSignal, every_step: bool) -> bool:
  """Whether any process received a stop signal. With several processes they
  agree on it only at log steps (`every_step`), to avoid a host sync per step."""
  if jax.process_count() == 1:
    return stop.received is not None
  if not every_step:
    return False
  from jax.experimental import multihost_utils
  flags = multihost_utils.process_allgather(np.array(stop.received is not None))
  return bool(np.any(flags))
