"""Multi-process set-up through `jax.distributed.initialize`.

One call, before any other JAX use, in every entry point:
  - SLURM (srun with SLURM_NTASKS > 1) and Cloud TPU VMs: auto-detected by JAX;
  - otherwise explicit flags (or env ENHANCE_JAX_COORDINATOR / _NUM_PROCESSES /
    _PROCESS_ID, which `launch/local_multiprocess.sh` sets);
  - none of these: a single process, nothing to do.
"""
from __future__ import annotations

import os

import jax
from absl import flags, logging

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", os.environ.get("ENHANCE_JAX_COORDINATOR"),
    "host:port of process 0 for multi-process runs (not needed on SLURM or TPU VMs).")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", int(os.environ.get("ENHANCE_JAX_NUM_PROCESSES", "0")) or None,
    "Total number of processes.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", int(os.environ["ENHANCE_JAX_PROCESS_ID"])
    if "ENHANCE_JAX_PROCESS_ID" in os.environ else None, "This process's index.")
_INIT_TIMEOUT = flags.DEFINE_integer(
    "distributed_timeout", int(os.environ.get("ENHANCE_JAX_DIST_TIMEOUT", "300")),
    "Seconds to wait for all processes to join, and for a dead peer to be noticed.")


def _on_cluster() -> bool:
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_STEP_ID" in os.environ:
    return True
  return bool(os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("MEGASCALE_COORDINATOR_ADDRESS"))


def initialize() -> None:
  """Initialises the JAX distributed runtime when the run has several processes."""
  if _COORDINATOR.value:
    if _NUM_PROCESSES.value is None or _PROCESS_ID.value is None:
      raise ValueError("--coordinator_address needs --num_processes and --process_id.")
    jax.distributed.initialize(
        coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value, initialization_timeout=_INIT_TIMEOUT.value,
        heartbeat_timeout_seconds=min(_INIT_TIMEOUT.value, 60))
  elif _on_cluster():
    jax.distributed.initialize(initialization_timeout=_INIT_TIMEOUT.value)
  else:
    return
  logging.info("Process %d of %d; %d local / %d global devices.", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
