"""Preemption: SIGTERM checkpoints and exits; `kill -9` at random moments loses
at most the steps since the last complete checkpoint; resumed runs end with
parameters bit-identical to an uninterrupted run.

Every run is a real `python -m enhance_jax.train` subprocess on a tiny U-Net.
Compiled programs are shared between the runs through JAX's persistent
compilation cache (a fixed folder under the temp dir, so reruns are faster).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from subprocess_env import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
NUM_STEPS = 30
FLAGS = (
    "--config.model.kwargs.features=4", "--config.model.kwargs.depth=2",
    "--config.data.patch_size=32", "--config.train.batch_size=4",
    f"--config.train.num_steps={NUM_STEPS}", "--config.train.log_every=1",
    f"--config.train.eval_every={NUM_STEPS}", "--config.train.checkpoint_every=1",
    "--config.train.keep_checkpoints=3", "--config.data.eval_max_size=32",
    "--config.data.max_eval_images=1", "--config.eval.grid_images=1",
    "--config.optimizer.warmup_steps=2",
)
TIMEOUT = 600  # seconds for one run on a loaded machine




class Run:
  """A training subprocess whose stdout/stderr lines are collected as they come."""

  def __init__(self, workdir: Path, *extra: str):
    cmd = [sys.executable, "-m", "enhance_jax.train", f"--workdir={workdir}", *FLAGS, *extra]
    self.proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(persist_all=True),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 bufsize=1)
    self.out: list[str] = []
    self.err: list[str] = []
    self._threads = [threading.Thread(target=self._pump, args=(s, d), daemon=True)
                     for s, d in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
    for t in self._threads:
      t.start()

  @staticmethod
  def _pump(stream, sink):
    for line in stream:
      sink.append(line.rstrip("\n"))

  def steps_logged(self) -> list[int]:
    return [int(l.split()[1].split("/")[0]) for l in list(self.out) if l.startswith("step ")]

  def wait_for_step(self, step: int, timeout: float = TIMEOUT) -> bool:
    """Waits until `step` is logged; False if the process ended first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
      if any(s >= step for s in self.steps_logged()):
        return True
      if self.proc.poll() is not None:
        return any(s >= step for s in self.steps_logged())
      time.sleep(0.02)
    raise TimeoutError(f"step {step} not reached in {timeout}s:\n{self.log()}")

  def finish(self, timeout: float = TIMEOUT) -> int:
    rc = self.proc.wait(timeout)
    for t in self._threads:
      t.join(10)
    return rc

  def log(self) -> str:
    return "\n".join(["--- stdout", *self.out, "--- stderr", *self.err[-30:]])


def _run_to_end(workdir: Path) -> Run:
  run = Run(workdir)
  rc = run.finish()
  assert rc == 0, run.log()
  return run


def _final(workdir: Path, step: int = NUM_STEPS) -> dict:
  from enhance_jax.training.checkpointing import Checkpointer
  ckpt = Checkpointer(workdir / "checkpoints", async_save=False)
  try:
    return ckpt.restore_raw(step)
  finally:
    ckpt.close()


def _assert_trees_equal(got: dict, want: dict) -> None:
  assert jax.tree.structure(got) == jax.tree.structure(want)
  paths = jax.tree_util.tree_flatten_with_path(want)[0]
  for (path, w), g in zip(paths, jax.tree.leaves(got)):
    assert g.dtype == w.dtype and g.shape == w.shape, jax.tree_util.keystr(path)
    assert np.array_equal(g, w), f"{jax.tree_util.keystr(path)} differs (not bit-exact)"


def _losses(workdir: Path) -> dict[int, float]:
  """step -> train loss from metrics.jsonl (later lines win; a line cut by
  `kill -9` is ignored)."""
  out = {}
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    try:
      rec = json.loads(line)
    except json.JSONDecodeError:
      continue
    if rec.get("split") == "train":
      out[rec["step"]] = rec["loss"]
  return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """One uninterrupted run: (workdir, final state, losses per step)."""
  workdir = tmp_path_factory.mktemp("reference")
  _run_to_end(workdir)
  return workdir, _final(workdir), _losses(workdir)


def test_sigterm_saves_checkpoint_and_resume_is_bit_exact(reference, tmp_path):
  _, want, want_losses = reference
  run = Run(tmp_path)
  assert run.wait_for_step(4), run.log()
  run.proc.send_signal(signal.SIGTERM)
  rc = run.finish()
  assert rc != 0, run.log()
  stopped = [l for l in run.out if l.startswith("Received SIGTERM: saved checkpoint")]
  assert stopped, run.log()
  reached = max(run.steps_logged())
  assert reached < NUM_STEPS, "the run finished before the signal; nothing was tested"
  ckpt_dir = tmp_path / "checkpoints" / str(reached)
  assert str(ckpt_dir) in stopped[0], run.log()
  assert any(f"Stopped by SIGTERM at step {reached}" in l for l in run.err), run.log()
  from enhance_jax.training.checkpointing import Checkpointer
  ckpt = Checkpointer(tmp_path / "checkpoints", async_save=False)
  assert ckpt.latest_step() == reached
  ckpt.close()
  assert _final(tmp_path, reached)["step"] == reached

  resumed = _run_to_end(tmp_path)
  assert any(l.startswith(f"Resuming from step {reached} ") for l in resumed.out), resumed.log()
  assert min(resumed.steps_logged()) == reached + 1
  _assert_trees_equal(_final(tmp_path), want)
  assert _losses(tmp_path) == want_losses


def test_kill9_at_random_points_resumes_bit_exact(reference, tmp_path):
  _, want, want_losses = reference
  rng = random.Random(20260422)
  from enhance_jax.training.checkpointing import Checkpointer
  kills, start, torn = 0, 0, 0
  while kills < 5:
    run = Run(tmp_path)
    # Kill once a random step past the resume point is logged, a random moment
    # later: with checkpoint_every=1 this often lands in an async checkpoint write.
    target = min(start + rng.randint(1, 3), NUM_STEPS - 5)
    if not run.wait_for_step(target):
      pytest.fail(f"run ended before step {target}:\n{run.log()}")
    time.sleep(rng.uniform(0.0, 0.25))
    run.proc.kill()
    run.finish()
    reached = max(run.steps_logged())
    if reached >= NUM_STEPS:
      pytest.fail("the run finished before it was killed; lower the kill targets")
    kills += 1
    resumed_from = [int(l.split()[3]) for l in run.out if l.startswith("Resuming from step ")]
    assert resumed_from == ([start] if start else []), run.log()
    torn += any(".orbax-checkpoint-tmp" in p.name for p in (tmp_path / "checkpoints").iterdir())
    ckpt = Checkpointer(tmp_path / "checkpoints", async_save=False)
    latest = ckpt.latest_step() or 0
    ckpt.close()
    # Step k is logged after step k-1's save began, which waited for k-2's.
    assert reached - 2 <= latest <= reached, (reached, latest, run.log())
    assert latest >= start
    if latest:
      _final(tmp_path, latest)  # the last complete checkpoint restores
    start = latest
  final = _run_to_end(tmp_path)
  assert start > 0 and any(l.startswith(f"Resuming from step {start} ") for l in final.out), \
      final.log()
  _assert_trees_equal(_final(tmp_path), want)
  got_losses = _losses(tmp_path)
  assert got_losses == want_losses
  print(f"{kills} kills, {torn} of them left a checkpoint half-written")


def test_half_written_checkpoint_is_ignored(tmp_path):
  """What `kill -9` during a save leaves (orbax's temporary folder, cut short)
  is never taken for a checkpoint, and the step is saved again cleanly."""
  import jax.numpy as jnp
  from enhance_jax.training.checkpointing import Checkpointer
  from enhance_jax.training.state import TrainState

  def state(step):
    w = jnp.full((3, 2), float(step))
    return TrainState(step=jnp.array(step, jnp.int32), params={"w": w}, model_state={"s": w},
                      opt_state=(w,), ema_params={"w": w}, rng=jnp.zeros(2, jnp.uint32),
                      bad_step=jnp.array(-1, jnp.int32), ema_model_state={"s": w})

  directory = tmp_path / "checkpoints"
  ckpt = Checkpointer(directory)
  ckpt.save(state(1))
  ckpt.save(state(2))
  ckpt.close()
  # Step 3's write was cut: a truncated copy under orbax's temporary name.
  torn = directory / "3.orbax-checkpoint-tmp-1234567"
  shutil.copytree(directory / "2", torn)
  for f in sorted(p for p in torn.rglob("*") if p.is_file())[::2]:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
  ckpt = Checkpointer(directory)
  assert ckpt.latest_step() == 2 and ckpt.all_steps() == [1, 2]
  restored = ckpt.restore(state(0))
  assert int(restored.step) == 2 and float(restored.params["w"][0, 0]) == 2.0
  assert ckpt.save(state(3))
  ckpt.close()
  assert float(_final(tmp_path, 3)["params"]["w"][0, 0]) == 3.0
