"""Device mesh and shardings over every device of every process.

The mesh has axes ('data', 'model'). The batch is split along its first axis
over 'data' (and replicated over 'model'); each process supplies only the rows
its own devices hold. With `config.mesh.fsdp = N > 1` the 'model' axis has N
devices and large parameters (and their optimizer and EMA copies) are sharded
over it FSDP-style along their largest divisible dimension; everything else is
replicated. With N = 1 the run is plain data parallel.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
MODEL_AXIS = "model"


def make_mesh(devices=None, fsdp: int = 1) -> Mesh:
  """A ('data', 'model') mesh of shape (devices / fsdp, fsdp) over `devices`
  (default: all devices of all processes, process-major, so the 'model' groups
  stay inside a process when `fsdp` divides its device count)."""
  devices = np.asarray(devices if devices is not None else jax.devices()).reshape(-1)
  if fsdp < 1 or devices.size % fsdp:
    raise ValueError(f"config.mesh.fsdp={fsdp} must divide the number of devices "
                     f"({devices.size}).")
  return Mesh(devices.reshape(-1, fsdp), (DATA_AXIS, MODEL_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def data_size(mesh: Mesh) -> int:
  return mesh.shape[DATA_AXIS]


def fsdp_sharding(x, mesh: Mesh, min_size: int = 0) -> NamedSharding:
  """Shards `x` over 'model' along its largest dimension divisible by the axis
  size when it has at least `min_size` elements; else replicated."""
  n = mesh.shape[MODEL_AXIS]
  shape = tuple(getattr(x, "shape", np.shape(x)))
  if n == 1 or not shape or int(np.prod(shape)) < max(min_size, 1):
    return replicated(mesh)
  dims = sorted((d for d in range(len(shape)) if shape[d] % n == 0), key=lambda d: -shape[d])
  if not dims:
    return replicated(mesh)
  spec = [None] * len(shape)
  spec[dims[0]] = MODEL_AXIS
  return NamedSharding(mesh, P(*spec))


def state_sharding(state, mesh: Mesh, min_size: int = 0):
  """Shardings of a train state (TrainState, GANState): the fields it names in
  `SHARDED` (parameters, optimizer state, EMA) FSDP-sharded (see
  `fsdp_sharding`), the rest (step, rng, model_state, ...) replicated."""
  shard = lambda tree: jax.tree.map(lambda x: fsdp_sharding(x, mesh, min_size), tree)
  rep = lambda tree: jax.tree.map(lambda _: replicated(mesh), tree)
  fields = [f.name for f in dataclasses.fields(state)]
  return state.replace(**{k: (shard if k in state.SHARDED else rep)(getattr(state, k))
                          for k in fields})


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  """The global batch must split evenly over the 'data' axis."""
  if global_batch % data_size(mesh):
    raise ValueError(f"config.train.batch_size={global_batch} is not divisible by the "
                     f"{data_size(mesh)} devices of the mesh's 'data' axis.")


def process_rows(global_batch: int, mesh: Mesh) -> slice:
  """The rows [start, stop) of a global batch that this process's devices hold."""
  indices = batch_sharded(mesh).addressable_devices_indices_map((global_batch,))
  starts = sorted({idx[0].indices(global_batch)[:2] for idx in indices.values()})
  lo, hi = starts[0][0], starts[-1][1]
  if sum(b - a for a, b in starts) != hi - lo:
    raise ValueError("This process's devices do not hold contiguous rows of the batch; "
                     "build the mesh with make_mesh().")
  return slice(lo, hi)


def global_batch(local: dict, mesh: Mesh) -> dict:
  """Process-local numpy rows (`process_rows`) -> global jax arrays sharded over 'data'."""
  sharding = batch_sharded(mesh)
  mine = {i for i, row in enumerate(mesh.devices) for d in row
          if d.process_index == jax.process_index()}
  out = {}
  for k, v in local.items():
    v = np.asarray(v)
    shape = (v.shape[0] * data_size(mesh) // len(mine), *v.shape[1:])
    out[k] = jax.make_array_from_process_local_data(sharding, v, shape)
  return out


def place(tree, shardings):
  """Puts a host pytree (the same full values on every process) on the mesh
  with the given shardings; each device receives only its own shard."""
  def put(x, sharding):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
  return jax.tree.map(put, tree, shardings)


def replicate(tree, mesh: Mesh):
  """Places a host pytree on every device of the mesh (works multi-process)."""
  return place(tree, jax.tree.map(lambda _: replicated(mesh), tree))
