"""launch/: the commands the scripts build (DRY_RUN=1), and how
local_multiprocess.sh supervises its processes (with a stand-in worker)."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch"


def _run(script: str, *args: str, **env) -> subprocess.CompletedProcess:
  full = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TPU_"))}
  full.update(env)
  return subprocess.run(["bash", str(LAUNCH / script), *args], env=full, cwd=ROOT,
                        capture_output=True, text=True, timeout=60)


def _commands(out: str) -> list[list[str]]:
  return [shlex.split(line[2:]) for line in out.splitlines() if line.startswith("+ ")]


def test_local_multiprocess_dry_run():
  r = _run("local_multiprocess.sh", "3", "--workdir=/tmp/a b", "--config.train.num_steps=4",
           DRY_RUN="1", PORT="12345", PYTHON="py", DEVICES_PER_PROCESS="2")
  assert r.returncode == 0, r.stderr
  cmds = _commands(r.stdout)
  assert len(cmds) == 3
  for i, cmd in enumerate(cmds):
    env = dict(c.split("=", 1) for c in cmd[:5])
    assert env == {"JAX_PLATFORMS": "cpu",
                   "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                   "ENHANCE_JAX_COORDINATOR": "127.0.0.1:12345",
                   "ENHANCE_JAX_NUM_PROCESSES": "3", "ENHANCE_JAX_PROCESS_ID": str(i)}
    assert cmd[5:] == ["py", "-m", "enhance_jax.train", "--workdir=/tmp/a b",
                       "--config.train.num_steps=4"]


def test_local_multiprocess_usage():
  r = _run("local_multiprocess.sh", "zero")
  assert r.returncode == 2 and "usage:" in r.stderr


def test_slurm_dry_run_process_per_gpu_and_per_node():
  slurm = {"DRY_RUN": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_GPUS_ON_NODE": "4"}
  r = _run("slurm.sbatch", "--config=c.py", "--workdir=/shared/r", PYTHON="py", **slurm)
  assert r.returncode == 0, r.stderr
  [cmd] = _commands(r.stdout)
  assert cmd == ["env", "ENHANCE_JAX_DISTRIBUTED=on", "srun", "--nodes=2", "--ntasks-per-node=4",
                 "--ntasks=8", "--kill-on-bad-exit=1", "py", "-m", "enhance_jax.train",
                 "--config=c.py", "--workdir=/shared/r"]
  r = _run("slurm.sbatch", "--workdir=/shared/r", PROCESS_PER="node", SRUN_ARGS="--cpus-per-task=8",
           **slurm)
  [cmd] = _commands(r.stdout)
  assert cmd[:8] == ["env", "ENHANCE_JAX_DISTRIBUTED=on", "JAX_LOCAL_DEVICE_IDS=0,1,2,3", "srun",
                     "--nodes=2", "--ntasks-per-node=1", "--ntasks=2", "--kill-on-bad-exit=1"]
  assert cmd[8:] == ["--cpus-per-task=8", "python3", "-m", "enhance_jax.train",
                     "--workdir=/shared/r"]


def test_slurm_outside_an_allocation_says_so():
  r = _run("slurm.sbatch", DRY_RUN="1")
  assert r.returncode != 0 and "SLURM allocation" in r.stderr


def test_tpu_vm_dry_run():
  r = _run("tpu_vm.sh", "--workdir=/mnt/r", "--config.loss=0.84*ssim+0.16*l1", DRY_RUN="1",
           TPU_NAME="pod", ZONE="us-central2-b", PROJECT="proj",
           SETUP="source ~/venv/bin/activate")
  assert r.returncode == 0, r.stderr
  [cmd] = _commands(r.stdout)
  assert cmd[:9] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod", "--zone=us-central2-b",
                     "--project=proj", "--worker=all"]
  remote = cmd[9].removeprefix("--command=")
  assert remote.startswith("cd ~/enhance_jax && source ~/venv/bin/activate && "
                           "ENHANCE_JAX_DISTRIBUTED=on python3 -m enhance_jax.train ")
  assert shlex.split(remote.split(" && ")[-1])[-2:] == ["--workdir=/mnt/r",
                                                        "--config.loss=0.84*ssim+0.16*l1"]
  assert "TPU_NAME" in _run("tpu_vm.sh", DRY_RUN="1").stderr


def _stand_in(tmp_path: Path) -> dict:
  """A fake entry point: process 1 fails after 1 s (or `FAIL` unset: all sleep);
  every process writes its pid to `pids/<id>`."""
  (tmp_path / "pids").mkdir()
  (tmp_path / "fake_worker.py").write_text(
      "import os, sys, time\n"
      "i = os.environ['ENHANCE_JAX_PROCESS_ID']\n"
      f"open({str(tmp_path / 'pids')!r} + '/' + i, 'w').write(str(os.getpid()))\n"
      "print('worker', i, os.environ['ENHANCE_JAX_COORDINATOR'], flush=True)\n"
      "if os.environ.get('FAIL') and i == '1':\n"
      "  time.sleep(1); sys.exit(3)\n"
      "time.sleep(120)\n")
  env = dict(os.environ, PYTHON=sys.executable, MODULE="fake_worker", PYTHONPATH=str(tmp_path))
  return env


def _alive(pid: int) -> bool:
  try:
    stat = Path(f"/proc/{pid}/stat").read_text()
  except OSError:
    return False
  return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _worker_pids(tmp_path: Path, n: int, timeout: float = 60) -> list[int]:
  deadline = time.monotonic() + timeout
  while len(list((tmp_path / "pids").iterdir())) < n:
    assert time.monotonic() < deadline, "workers did not start"
    time.sleep(0.2)
  time.sleep(0.5)
  return [int(p.read_text()) for p in (tmp_path / "pids").iterdir()]


def test_local_multiprocess_stops_all_when_one_fails(tmp_path):
  env = _stand_in(tmp_path)
  env["FAIL"] = "1"
  t0 = time.monotonic()
  r = subprocess.run(["bash", str(LAUNCH / "local_multiprocess.sh"), "3"], env=env, cwd=ROOT,
                     capture_output=True, text=True, timeout=60)
  assert r.returncode == 3, r.stderr
  assert time.monotonic() - t0 < 30
  assert "exited with code 3; stopping the others" in r.stderr
  assert "[0] worker 0 127.0.0.1:" in r.stdout and "[2] worker 2" in r.stdout
  pids = [int(p.read_text()) for p in (tmp_path / "pids").iterdir()]
  assert len(pids) == 3 and not any(_alive(p) for p in pids)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_local_multiprocess_forwards_a_stop_signal(tmp_path, sig):
  env = _stand_in(tmp_path)
  inherited = (signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))

  def as_from_a_terminal():
    # A shell started with SIGINT ignored cannot trap it (POSIX), one started with it
    # blocked never sees it. Run after the rest of the suite (never alone) the INT case
    # hung: the test process had changed one of the two, which a child inherits.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])

  proc = subprocess.Popen(["bash", str(LAUNCH / "local_multiprocess.sh"), "2"], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, preexec_fn=as_from_a_terminal)
  try:
    pids = _worker_pids(tmp_path, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
  assert proc.returncode == 130 and "stopping all 2 processes" in err, (inherited, err)
  assert not any(_alive(p) for p in pids)
