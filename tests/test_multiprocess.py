"""Multi-process training on loopback (launch/local_multiprocess.sh 2).

Two CPU processes train the default config (shrunk) with the same global batch
as a one-process run and log the same losses; their checkpoint resumes in one
process; a process whose peer dies stops at once with a readable error; and an
FSDP mesh trains like the replicated one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "launch" / "local_multiprocess.sh"
RUN_TIMEOUT = 600    # seconds for a whole 2-process run (this CPU is shared)
DEATH_TIMEOUT = 90   # seconds the survivor may take to stop after its peer died
TOL = 1e-5

TINY = {
    "model.kwargs.features": 4, "model.kwargs.depth": 2, "data.patch_size": 32,
    "train.batch_size": 4, "train.num_steps": 4, "train.log_every": 1, "train.eval_every": 4,
    "train.checkpoint_every": 2, "data.eval_max_size": 32, "eval.grid_images": 1,
    "optimizer.warmup_steps": 2,
}


def _flags(overrides: dict) -> list[str]:
  return [f"--config.{k}={v}" for k, v in overrides.items()]


def _config(**extra):
  """The config the launcher's processes run: the shipped default (no --config) + TINY."""
  from enhance_jax.config import load_config
  c = load_config()
  for key, value in {**TINY, **extra}.items():
    *parents, leaf = key.split(".")
    node = c
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c


def _env(**extra) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(PYTHON=sys.executable, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
             ENHANCE_JAX_DIST_TIMEOUT="300", **extra)
  return env


def _session_pids(sid: int) -> list[int]:
  """Live processes of session `sid` (the launcher and everything it started)."""
  pids = []
  for stat in Path("/proc").glob("[0-9]*/stat"):
    try:
      fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
      continue
    if int(fields[3]) == sid and fields[0] != "Z":
      pids.append(int(stat.parent.name))
  return pids


def _kill_session(proc: subprocess.Popen) -> None:
  for pid in _session_pids(proc.pid):
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  proc.wait(timeout=30)


def _losses(workdir: Path) -> dict[int, float]:
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  train = [r for r in rows if r["split"] == "train"]
  steps = [r["step"] for r in train]
  assert len(steps) == len(set(steps)), f"a step was logged twice (not only process 0): {steps}"
  return {r["step"]: r["loss"] for r in train}


def _port_is_free(port: int) -> bool:
  """Nothing listens on `port` (TIME_WAIT leftovers do not count, as for the coordinator)."""
  with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      s.bind(("127.0.0.1", port))
      return True
    except OSError:
      return False


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
  """`local_multiprocess.sh 2` (1 CPU device each) training the tiny default config."""
  workdir = tmp_path_factory.mktemp("two_process")
  proc = subprocess.Popen(["bash", str(LAUNCHER), "2", f"--workdir={workdir}", *_flags(TINY)],
                          cwd=ROOT, env=_env(DEVICES_PER_PROCESS="1"), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
  try:
    out, _ = proc.communicate(timeout=RUN_TIMEOUT)
  except subprocess.TimeoutExpired:
    _kill_session(proc)
    out = proc.stdout.read() if proc.stdout else ""
    pytest.fail(f"the 2-process run did not finish within {RUN_TIMEOUT}s (a process hung or "
                f"a peer died without the other noticing); killed it. Output tail:\n{out[-3000:]}")
  finally:
    leftover = _session_pids(proc.pid)
    if leftover:
      _kill_session(proc)
  assert not leftover, f"processes left running after the launcher exited: {leftover}"
  assert proc.returncode == 0, f"2-process run failed ({proc.returncode}):\n{out[-3000:]}"
  ports = {int(p) for p in re.findall(r"ENHANCE_JAX_COORDINATOR=127\.0\.0\.1:(\d+)", out)}
  assert len(ports) == 1 and _port_is_free(ports.pop()), "coordinator port still in use"
  assert "[0] Done: 4 steps" in out and "[1] Done" not in out, out[-3000:]
  return workdir


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory) -> Path:
  """The same config in this process on 2 of its devices (same global batch)."""
  from enhance_jax.training import loop
  workdir = tmp_path_factory.mktemp("one_process")
  loop.train_and_evaluate(_config(), str(workdir), devices=jax.devices()[:2])
  return workdir


def test_two_processes_log_the_losses_of_one(two_process_run, one_process_run):
  two, one = _losses(two_process_run), _losses(one_process_run)
  assert sorted(two) == sorted(one) == [1, 2, 3, 4]
  np.testing.assert_allclose([two[s] for s in one], [one[s] for s in one], rtol=0, atol=TOL)
  assert (two_process_run / "eval_grid.png").is_file()
  assert sorted(int(p.name) for p in (two_process_run / "checkpoints").iterdir()
                if p.name.isdigit()) == [2, 4]


def test_two_process_checkpoint_resumes_in_one_process(two_process_run, one_process_run,
                                                       tmp_path):
  """Resuming the 2-process step-2 checkpoint in one process replays steps 3-4."""
  from enhance_jax.training import loop
  workdir = tmp_path / "resumed"
  shutil.copytree(two_process_run / "checkpoints", workdir / "checkpoints")
  shutil.rmtree(workdir / "checkpoints" / "4")
  loop.train_and_evaluate(_config(), str(workdir), devices=jax.devices()[:2])
  resumed, one = _losses(workdir), _losses(one_process_run)
  assert sorted(resumed) == [3, 4]
  np.testing.assert_allclose([resumed[3], resumed[4]], [one[3], one[4]], rtol=0, atol=TOL)


def test_fsdp_mesh_trains_like_the_replicated_one(one_process_run, tmp_path):
  """('data' 2, 'model' 2) with every divisible parameter sharded == data-parallel on 2."""
  from enhance_jax.training import loop, tasks
  from enhance_jax.training import mesh as mesh_lib
  config = _config(**{"mesh.fsdp": 2, "mesh.min_shard_size": 0})
  mesh = mesh_lib.make_mesh(fsdp=2)
  state = tasks.build(config).init_state(mesh)
  specs = [x.sharding.spec for x in jax.tree.leaves(state.params)]
  assert sum(mesh_lib.MODEL_AXIS in s for s in specs) >= len(specs) // 2, specs
  assert state.step.sharding.is_fully_replicated
  loop.train_and_evaluate(config, str(tmp_path))
  fsdp, one = _losses(tmp_path), _losses(one_process_run)
  np.testing.assert_allclose([fsdp[s] for s in one], [one[s] for s in one], rtol=0, atol=TOL)


def test_dead_peer_makes_the_other_process_fail_fast(tmp_path):
  """Process 1 is killed mid-training; process 0 must stop soon with a readable error."""
  port = _free_port()
  overrides = {**TINY, "train.num_steps": 10000, "train.eval_every": 10000,
               "train.checkpoint_every": 10000}
  procs, logs = [], []
  try:
    for i in range(2):
      env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=1",
                 ENHANCE_JAX_COORDINATOR=f"127.0.0.1:{port}", ENHANCE_JAX_NUM_PROCESSES="2",
                 ENHANCE_JAX_PROCESS_ID=str(i), ENHANCE_JAX_HEARTBEAT_TIMEOUT="20")
      out, err = open(tmp_path / f"out{i}", "w"), open(tmp_path / f"err{i}", "w")
      logs.append((out, err))
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "enhance_jax.train", f"--workdir={tmp_path / 'wd'}",
           *_flags(overrides)], cwd=ROOT, env=env, stdout=out, stderr=err,
          start_new_session=True))
    deadline = time.monotonic() + RUN_TIMEOUT
    while "step 2/" not in (tmp_path / "out0").read_text():
      if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
        pytest.fail(f"the 2 processes did not reach step 2 within {RUN_TIMEOUT}s:\n"
                    + (tmp_path / "err0").read_text()[-2000:])
      time.sleep(1)
    procs[1].kill()
    t0 = time.monotonic()
    try:
      rc = procs[0].wait(timeout=DEATH_TIMEOUT)
    except subprocess.TimeoutExpired:
      pytest.fail(f"process 0 still running {DEATH_TIMEOUT}s after its peer was killed (hang)")
    took = time.monotonic() - t0
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
      p.wait(timeout=30)
    for out, err in logs:
      out.close()
      err.close()
  print(f"process 0 stopped {took:.1f}s after process 1 was killed (exit code {rc})")
  err0 = (tmp_path / "err0").read_text()
  assert rc != 0
  assert "error: process 0 of 2" in err0 and "another process of this run most likely died" \
      in err0, err0[-2000:]
  assert _port_is_free(port)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# --- cheap checks of the pieces -------------------------------------------------------------


def test_cluster_detection(monkeypatch):
  from enhance_jax import distributed
  for k in list(os.environ):
    if k.startswith(("SLURM_", "TPU_", "MEGASCALE_")):
      monkeypatch.delenv(k)
  assert not distributed._on_cluster()
  monkeypatch.setenv("SLURM_NTASKS", "4")
  assert not distributed._on_cluster()  # the batch script itself, not an srun step
  monkeypatch.setenv("SLURM_STEP_ID", "0")
  monkeypatch.setenv("SLURM_STEP_NODELIST", "node[1-2]")
  assert distributed._on_cluster()
  monkeypatch.setenv("SLURM_NTASKS", "1")
  assert not distributed._on_cluster()
  monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "t0,t1")
  assert distributed._on_cluster()


def test_initialize_flags(monkeypatch):
  from absl import flags
  from absl.testing import flagsaver
  from enhance_jax import distributed
  parsed = flags.FLAGS.is_parsed()
  if not parsed:
    flags.FLAGS.mark_as_parsed()
  monkeypatch.delenv("SLURM_NTASKS", raising=False)
  monkeypatch.delenv("TPU_WORKER_HOSTNAMES", raising=False)
  try:
    with flagsaver.flagsaver(coordinator_address="127.0.0.1:1", num_processes=None,
                             process_id=None):
      with pytest.raises(ValueError, match="needs --num_processes"):
        distributed.initialize()
    with flagsaver.flagsaver(distributed="auto", coordinator_address=None):
      distributed.initialize()  # one process: nothing to do
    with flagsaver.flagsaver(distributed="off", coordinator_address="127.0.0.1:1",
                             num_processes=2, process_id=0):
      distributed.initialize()
  finally:
    if not parsed:
      flags.FLAGS.unparse_flags()
  assert jax.process_count() == 1


def test_fsdp_sharding_rule():
  from enhance_jax.training import mesh as mesh_lib
  mesh = mesh_lib.make_mesh(fsdp=2)
  assert dict(mesh.shape) == {"data": 2, "model": 2}
  spec = lambda shape, **kw: tuple(mesh_lib.fsdp_sharding(np.zeros(shape), mesh, **kw).spec)
  assert spec((3, 3, 8, 16)) == (None, None, None, "model")   # largest divisible dim
  assert spec((3, 3, 16, 5)) == (None, None, "model", None)
  assert spec((3, 3, 3, 5)) == ()                              # nothing divides: replicated
  assert spec((16,), min_size=32) == ()                        # small: replicated
  assert spec(()) == ()
  assert mesh_lib.process_rows(8, mesh) == slice(0, 8)
  with pytest.raises(ValueError, match="config.mesh.fsdp=3"):
    mesh_lib.make_mesh(fsdp=3)
  with pytest.raises(ValueError, match="batch_size=3"):
    mesh_lib.check_batch_size(3, mesh)
