"""Orbax checkpoints of the whole train state, with automatic resume.

Checkpoints live in `<workdir>/checkpoints/<step>`. Orbax writes each one to a
temporary directory and renames it when complete, so a run killed at any
moment (even mid-write) leaves only complete checkpoints behind; `latest_step`
sees only those.
"""
from __future__ import annotations

import os
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores `TrainState`s; every process must call every method."""

  def __init__(self, directory: str | os.PathLike, keep: int = 3, async_save: bool = True):
    self.directory = Path(directory).resolve()
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=async_save)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, state, force: bool = False) -> bool:
    """Saves `state` under its step (asynchronously); returns whether it saved."""
    step = int(jax.device_get(state.step))
    if step in self._manager.all_steps():
      return False
    tree = flax.serialization.to_state_dict(state)
    return self._manager.save(step, args=ocp.args.StandardSave(tree), force=force)

  def restore(self, target, step: int | None = None):
    """Restores into the structure, shapes and shardings of `target` (a state
    of concrete or abstract arrays)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{self.directory}: no complete checkpoint to restore.")
    abstract = jax.tree.map(_abstract, flax.serialization.to_state_dict(target))
    tree = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return flax.serialization.from_state_dict(target, tree)

  def restore_raw(self, step: int | None = None) -> dict:
    """The saved state as a nested dict of host arrays (no target needed)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{self.directory}: no complete checkpoint to restore.")
    tree = self._manager.restore(step, args=ocp.args.StandardRestore())
    return jax.tree.map(np.asarray, tree)

  def path(self, step: int) -> Path:
    return self.directory / str(step)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))
