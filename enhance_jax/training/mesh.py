"""Device mesh and shardings: data parallel over every device of every process.

The state is replicated, the batch is split along its first axis over the
'data' mesh axis. Each process supplies only its own rows of the global batch.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D ('data',) mesh over `devices` (default: all devices of all processes)."""
  devices = np.asarray(devices if devices is not None else jax.devices())
  return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def local_batch_size(global_batch: int, mesh: Mesh) -> int:
  """Rows of the global batch this process feeds; checks divisibility."""
  n_dev, n_proc = mesh.devices.size, jax.process_count()
  if global_batch % n_dev:
    raise ValueError(f"config.train.batch_size={global_batch} is not divisible by the "
                     f"{n_dev} devices of the mesh.")
  return global_batch // n_proc


def process_rows(global_batch: int) -> slice:
  """The rows [start, stop) of a global batch that belong to this process."""
  n = global_batch // jax.process_count()
  return slice(jax.process_index() * n, (jax.process_index() + 1) * n)


def global_batch(local: dict, mesh: Mesh) -> dict:
  """Process-local numpy batch -> global jax arrays sharded over 'data'."""
  sharding = batch_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local.items()}


def replicate(tree, mesh: Mesh):
  """Places a host pytree on every device of the mesh (works multi-process)."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)
