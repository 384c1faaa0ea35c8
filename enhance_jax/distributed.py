"""Multi-process set-up through `jax.distributed.initialize`.

Every entry point calls `initialize()` once, before any other JAX use. Which
processes form the run, by `--distributed` (env ENHANCE_JAX_DISTRIBUTED):
  - auto (default): explicit `--coordinator_address/--num_processes/--process_id`
    (or env ENHANCE_JAX_COORDINATOR / _NUM_PROCESSES / _PROCESS_ID, which
    `launch/local_multiprocess.sh` sets) when given; else JAX's auto-detection
    inside a SLURM step of several tasks (srun) or on a multi-host TPU
    environment; else a single process, nothing to do;
  - on: always initialise, auto-detecting what is not given (the SLURM and TPU
    VM launchers set this);
  - off: never (a single process).
With several processes, a peer that dies makes the others stop at once: a
collective with it fails (or, when none is under way, the coordination service
misses its heartbeats for `--heartbeat_timeout` seconds), and the uncaught
error is reported in one line before the process exits without waiting for
the dead peer at shutdown.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

import jax
from absl import flags, logging


def _env_int(name: str) -> int | None:
  value = os.environ.get(name, "")
  return int(value) if value else None


_MODE = flags.DEFINE_enum(
    "distributed", os.environ.get("ENHANCE_JAX_DISTRIBUTED", "auto"), ["auto", "on", "off"],
    "Multi-process initialisation: auto-detect, always, or never.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", os.environ.get("ENHANCE_JAX_COORDINATOR"),
    "host:port of process 0 (not needed on SLURM or TPU VMs).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", _env_int("ENHANCE_JAX_NUM_PROCESSES"), "Total number of processes.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", _env_int("ENHANCE_JAX_PROCESS_ID"), "This process's index, 0..N-1.")
_INIT_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout", _env_int("ENHANCE_JAX_DIST_TIMEOUT") or 300,
    "Seconds to wait for all processes to join.")
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout", _env_int("ENHANCE_JAX_HEARTBEAT_TIMEOUT") or 100,
    "Seconds after which a silent process is declared dead and the run stops.")


def _on_cluster() -> bool:
  """Inside an srun step of several tasks, or a multi-host TPU environment."""
  slurm_step = "SLURM_STEP_ID" in os.environ and "SLURM_STEP_NODELIST" in os.environ
  if slurm_step and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  return bool(os.environ.get("TPU_WORKER_HOSTNAMES", "").count(",")
              or os.environ.get("MEGASCALE_COORDINATOR_ADDRESS"))


def initialize() -> None:
  """Initialises the JAX distributed runtime when the run has several processes."""
  explicit = _COORDINATOR.value is not None
  if explicit and (_NUM_PROCESSES.value is None or _PROCESS_ID.value is None):
    raise ValueError("--coordinator_address (ENHANCE_JAX_COORDINATOR) needs --num_processes "
                     "and --process_id (ENHANCE_JAX_NUM_PROCESSES, ENHANCE_JAX_PROCESS_ID).")
  mode = _MODE.value
  if mode == "off" or (mode == "auto" and not explicit and not _on_cluster()):
    return
  where = (f"coordinator {_COORDINATOR.value}, process {_PROCESS_ID.value} of "
           f"{_NUM_PROCESSES.value}" if explicit else "auto-detected cluster")
  try:
    jax.distributed.initialize(
        coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value, initialization_timeout=_INIT_TIMEOUT.value,
        heartbeat_timeout_seconds=_HEARTBEAT_TIMEOUT.value)
  except Exception as e:  # noqa: BLE001  (re-raised with the context a user needs)
    raise RuntimeError(
        f"jax.distributed.initialize failed ({where}, timeout {_INIT_TIMEOUT.value}s): "
        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}. Check that every process "
        "was started with the same coordinator address and process count, and that process 0 "
        "is reachable.") from e
  logging.info("Process %d of %d; %d local / %d global devices.", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
  if jax.process_count() > 1:
    sys.excepthook = _exit_at_once


_PEER_FAILURE = ("gloo", "connection reset", "connection closed", "heartbeat", "coordination",
                 "barrier", "socket closed", "unavailable")


def exit_with_error(error: BaseException | str) -> NoReturn:
  """Prints `error: ...` on stderr and exits with status 1.

  With several processes the line names this process (and says when the error
  looks like a dead peer), and the exit is immediate: the normal shutdown waits
  for every peer, which for a dead one lasts the heartbeat timeout.
  """
  text = str(error).strip() or type(error).__name__
  if jax.process_count() == 1:
    print(f"error: {text}", file=sys.stderr, flush=True)
    sys.exit(1)
  first = text.splitlines()[0]
  if any(k in text.lower() for k in _PEER_FAILURE):
    hint = ("another process of this run most likely died or was killed; its own log has the "
            "cause. Resume by running the same command again")
  else:
    hint = "the other processes stop too"
  sys.stdout.flush()
  print(f"error: process {jax.process_index()} of {jax.process_count()}: {first}\n  -> {hint}.",
        file=sys.stderr, flush=True)
  os._exit(1)


def _exit_at_once(exc_type, exc, tb) -> None:
  """sys.excepthook of multi-process runs: the traceback, then `exit_with_error`."""
  if issubclass(exc_type, KeyboardInterrupt):
    os._exit(130)
  traceback.print_exception(exc_type, exc, tb)
  exit_with_error(f"{exc_type.__name__}: {exc}")
