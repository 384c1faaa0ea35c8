"""`train_and_evaluate`: the one training loop every config runs through."""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import logging

from enhance_jax import config as config_lib
from enhance_jax.data import imageio, pipeline
from enhance_jax.training import checkpointing, components, evaluation, logs, tasks
from enhance_jax.training import mesh as mesh_lib
from enhance_jax.training import workdir_lock


class NonFiniteLossError(FloatingPointError, ValueError):
  """The loss or a gradient became NaN/Inf and config.train.nan_policy is 'stop'
  (or, with 'skip', too many steps were skipped or the final evaluation is NaN).
  A ValueError too: the entry points report it as a user error, in one line."""


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


# The config keys that determine the shapes and structure of the saved state: a
# resume that changes one of them is refused before anything is restored.
SHAPE_KEYS = ("task", "model", "data.channels", "data.scale")
GAN_SHAPE_KEYS = ("gan.disc", "gan.conditional")


def check_resume(config: ml_collections.ConfigDict, workdir: Path) -> None:
  """Raises ValueError (one line, listing the keys) when `config` differs from
  the run saved in `workdir/config.json` in a key of SHAPE_KEYS (and, for a GAN,
  GAN_SHAPE_KEYS): its checkpoints would not fit the new state."""
  saved = config_lib.load_run_config(workdir)
  if saved is None:
    return
  keys = SHAPE_KEYS + (GAN_SHAPE_KEYS if "gan" in (config.task, saved.task) else ())
  differ = config_lib.diff(saved, config, sections=keys)
  if differ:
    raise ValueError(
        f"{workdir}: its checkpoints were trained with another model or data shape "
        f"({', '.join(differ)} differ from {workdir / 'config.json'}); use a new --workdir, "
        "or the saved values to resume.")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, devices=None) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint; returns
  the last evaluation {set name: summary} ("eval" without `config.evals`).

  `devices` restricts the mesh (default: every device of every process). The
  task, data and evaluation sets are built first (`_build`), so a config that
  cannot run leaves the workdir untouched; then `_train_and_evaluate` runs
  holding the workdir lock (`workdir_lock`): a second run in the same workdir
  fails at once, naming the holder's PID and host."""
  config_lib.check(config)
  if int(config.train.num_steps) <= 0:
    raise ValueError(f"config.train.num_steps={config.train.num_steps}: training needs > 0 "
                     "steps (0 is for evaluation-only configs).")
  if jax.process_index() == 0 and (Path(workdir) / workdir_lock.LOCK_NAME).is_file():
    with workdir_lock.WorkdirLock(Path(workdir).resolve()):
      pass  # a run holding the workdir fails this one at once, before anything is built
  built = _build(config, devices)  # writes nothing: a config that cannot run leaves no trace
  if jax.process_index() != 0:
    return _train_and_evaluate(config, workdir, *built)
  with workdir_lock.WorkdirLock(Path(workdir).resolve()):
    return _train_and_evaluate(config, workdir, *built)


def _build(config: ml_collections.ConfigDict, devices=None) -> tuple:
  """(mesh, task, train source, evaluation sets, step-0 state): everything a
  run needs that can fail on a bad config, built before the workdir is touched."""
  if config.train.nan_policy not in ("stop", "skip"):
    raise ValueError(f"config.train.nan_policy={config.train.nan_policy!r}: use 'stop' or 'skip'.")
  mesh = mesh_lib.make_mesh(devices, fsdp=int(config.mesh.fsdp))
  mesh_lib.check_batch_size(int(config.train.batch_size), mesh)
  task = tasks.build(config, num_steps=int(config.train.num_steps))
  train_source = components.source(config, config.data.train_split)
  eval_sets = [evaluation.EvalSet(name, c, task.model, mesh)
               for name, c in evaluation.set_configs(config).items()]
  return mesh, task, train_source, eval_sets, task.init_state(mesh)


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, mesh, task,
                        train_source, eval_sets, state) -> dict:
  """Trains `config` in `workdir`, resuming from its latest checkpoint.

  With what `_build` made, resumes (refusing a checkpoint of another model or
  data shape, `check_resume`) and only then writes config.json and
  run_info.json. Writes checkpoints/, metrics.jsonl, tensorboard/,
  eval_metrics.json and the image grids into `workdir`; returns the last
  evaluation {set name: summary} ("eval" without `config.evals`).
  """
  workdir = Path(workdir).resolve()
  is_main = jax.process_index() == 0
  num_steps = int(config.train.num_steps)
  global_batch = int(config.train.batch_size)

  ckpt = checkpointing.Checkpointer(workdir / "checkpoints", keep=config.train.keep_checkpoints)
  latest = ckpt.latest_step()
  if latest is not None:
    try:
      check_resume(config, workdir)
    except ValueError:
      ckpt.close()
      raise
    saved = config_lib.load_run_config(workdir)
    state = ckpt.restore(state, on_corrupt=config.train.on_corrupt_checkpoint)
    latest = ckpt.latest_step()  # corrupt newer ones were reported and set aside
    logging.info("Resumed from %s", ckpt.path(latest))
    if is_main:
      print(f"Resuming from step {latest} ({ckpt.path(latest)})", flush=True)
      _warn_schedule_change(saved, config, workdir)
  start_step = int(jax.device_get(state.step))
  if is_main:
    print(startup_summary(config, task, state, train_source, eval_sets, mesh,
                          ckpt.path(latest) if latest is not None else None), flush=True)
    config_lib.save_run_config(config, workdir)
    logs.record_run_start(workdir, start_step)

  state_sharding = task.state_sharding(state, mesh)
  train_step = jax.jit(task.step_fn(), in_shardings=(state_sharding, mesh_lib.batch_sharded(mesh)),
                       out_shardings=(state_sharding, mesh_lib.replicated(mesh)),
                       donate_argnums=(0,))

  writer = logs.MetricWriter(workdir)
  progress = logs.Progress(num_steps, start_step)
  batches = pipeline.train_batches(train_source, config.data, config.seed, global_batch,
                                   mesh_lib.process_rows(global_batch, mesh), start_step)
  batches = pipeline.prefetch_to_device(batches, lambda b: mesh_lib.global_batch(b, mesh),
                                        config.data.device_prefetch)
  pending: list[dict] = []
  skipped = 0  # steps whose update was dropped (non-finite loss or gradient)
  summary: dict = {}

  def run_eval(step: int) -> dict:
    variables = task.eval_variables(state, use_ema=config.eval.use_ema)
    summaries, report = {}, {}
    for es in eval_sets:
      result, per_image, samples = es.run(variables)
      writer.write(step, "eval", result, name=es.name)
      summaries[es.name] = result
      report[es.name] = {"step": step, "dataset": es.config.data.name, "split": es.split,
                         **result, "per_image": per_image}
      if is_main and samples:
        grid = evaluation.grid_image(samples)
        imageio.write_image(workdir / es.grid_name, grid)
        writer.image(step, f"eval/{es.name}/grid", grid)  # input | output | target
      if is_main:
        print(f"eval @ step {step}: {evaluation.format_summary(es.name, result)}", flush=True)
    if is_main:
      logs.write_json(workdir / "eval_metrics.json", report)
    return summaries

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
  with _StopSignal() as stop, _closing(ckpt, writer):
    step = start_step
    t_start = time.perf_counter()
    for step in range(start_step + 1, num_steps + 1):
      state, metrics = train_step(state, next(batches))
      pending.append(metrics)
      last = step == num_steps
      if step % config.train.log_every == 0 or last:
        host = jax.device_get(pending)
        pending = []
        skipped += sum(not all(np.isfinite(v).all() for v in m.values()) for m in host)
        mean = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
        mean["steps_per_s"] = progress.update(step, mean)
        mean["elapsed_s"] = time.perf_counter() - t_start  # wall time of this process's loop
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

  if stopped is None:
    _check_run_health(config, skipped, num_steps - start_step, summary, ckpt.path(num_steps))
  if is_main and stopped is None:
    elapsed = time.perf_counter() - t_start
    grids = ", ".join(str(workdir / es.grid_name) for es in eval_sets)
    print(f"Done: {num_steps - start_step} steps in {elapsed:.0f}s. Workdir {workdir}:\n"
          f"  checkpoint  {ckpt.path(num_steps)}\n"
          f"  metrics     {workdir / 'metrics.jsonl'}, {workdir / 'eval_metrics.json'}\n"
          f"  image grid  {grids} (input | output | target)\n"
          f"  tensorboard {workdir / 'tensorboard'}", flush=True)
  if stopped is not None:
    raise SystemExit(f"Stopped by {stopped} at step {step}; resume by running the same "
                     "command again.")
  return summary


def _warn_schedule_change(saved, config: ml_collections.ConfigDict, workdir: Path) -> None:
  """A warning (stderr and the log) when a resume changes train.num_steps: the learning-rate
  schedule (warmup, cosine decay, step boundaries) is laid over the new length, so the
  rate jumps at the resumed step."""
  if saved is None or int(saved.train.num_steps) == int(config.train.num_steps):
    return
  old, new = int(saved.train.num_steps), int(config.train.num_steps)
  text = (f"warning: train.num_steps changed from {old} (in {workdir / 'config.json'}) to {new}: "
          f"the learning-rate schedule ({config.optimizer.schedule}) is now {new} steps long, so "
          "the rate at the resumed step changes; resume with the saved num_steps to keep it.")
  logging.warning(text)
  print(text, file=sys.stderr, flush=True)


def startup_summary(config: ml_collections.ConfigDict, task, state, train_source, eval_sets,
                    mesh, resumed_from: Path | None) -> str:
  """What a run starts with, printed once on process 0: model and parameter count, dataset
  sizes (train split, each evaluation set), devices and mesh, and where the weights come from."""
  from enhance_jax.models import complexity
  params = complexity.count_params(task.eval_variables(state, use_ema=False))
  try:
    train_size = f"{len(train_source)} images"
  except TypeError:
    train_size = "streamed"
  sets = ", ".join(f"{es.name} {es.num_images} images ({es.config.data.name}/{es.split})"
                   for es in eval_sets)
  d = jax.devices()
  if resumed_from is not None:
    weights = f"resumed from {resumed_from}"
  elif config.init_checkpoint:
    weights = f"config.init_checkpoint {config.init_checkpoint}"
  else:
    weights = f"random initialisation (seed {config.seed})"
  return "\n".join([
      f"model {config.model.name}: {params:,} parameters (task {config.task}, loss {config.loss})",
      f"data {config.data.name}: train split '{config.data.train_split}' {train_size}; "
      f"eval sets: {sets}",
      f"devices: {len(d)} x {d[0].device_kind} ({d[0].platform}), {jax.process_count()} "
      f"process(es); mesh {dict(mesh.shape)}",
      f"initial weights: {weights}",
      f"steps: {int(jax.device_get(state.step))} -> {int(config.train.num_steps)}, global batch "
      f"{int(config.train.batch_size)}"])


@contextlib.contextmanager
def _closing(ckpt: checkpointing.Checkpointer, writer):
  """Closes the checkpointer (waiting for an in-flight async save, which so
  completes) and the metric writer however the loop ends; after a failure, a
  second failure while closing does not hide the first, which is raised."""
  try:
    yield
  except BaseException:
    with contextlib.suppress(Exception):
      ckpt.close()
    with contextlib.suppress(Exception):
      writer.close()
    raise
  ckpt.close()
  writer.close()


def _check_run_health(config: ml_collections.ConfigDict, skipped: int, steps: int,
                      summary: dict, checkpoint: Path) -> None:
  """Raises NonFiniteLossError (one line) when more than
  `config.train.max_skipped_fraction` of this run's `steps` were skipped, or a
  final evaluation metric is NaN. The final checkpoint is kept either way."""
  limit = float(config.train.max_skipped_fraction)
  if steps and skipped / steps > limit:
    raise NonFiniteLossError(
        f"{skipped} of {steps} steps ({skipped / steps:.1%}) had a non-finite loss or gradient "
        f"and were skipped, more than config.train.max_skipped_fraction={limit:g}; the final "
        f"checkpoint {checkpoint} is suspect. Lower the learning rate.")

  def nan_keys(tree, prefix=""):
    if isinstance(tree, dict):
      return [k for key, v in tree.items() for k in nan_keys(v, f"{prefix}{key}.")]
    try:
      return [prefix[:-1]] if np.isnan(float(tree)) else []
    except (TypeError, ValueError):
      return []
  bad = nan_keys(summary)
  if bad:
    raise NonFiniteLossError(
        f"the final evaluation is NaN ({', '.join(bad[:6])}); the final checkpoint {checkpoint} "
        "gives non-finite outputs. Lower the learning rate.")


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
