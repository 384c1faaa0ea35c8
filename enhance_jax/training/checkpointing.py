"""Orbax checkpoints of the whole train state, with automatic resume.

Checkpoints live in `<workdir>/checkpoints/<step>`. Orbax writes each one to a
temporary directory and renames it when complete, so a run killed at any
moment (even mid-write) leaves only complete checkpoints behind; `latest_step`
sees only those. A checkpoint damaged afterwards (a truncated or missing file,
an emptied folder) is named in one line and, by default, moved aside to
`<workdir>/checkpoints_corrupt/` so the run resumes from the newest one that
restores. Checkpoints restore on any number of devices, whatever they were
written with.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores `TrainState`s; every process must call every method."""

  def __init__(self, directory: str | os.PathLike, keep: int = 3, async_save: bool = True):
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
      raise ValueError(f"config.train.keep_checkpoints={keep!r}: must be an integer >= 1 "
                       "(the number of newest checkpoints kept).")
    self.directory = Path(directory).resolve()
    try:
      self.directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise OSError(f"{self.directory}: cannot create the checkpoint folder "
                    f"({e.strerror or e}).") from None
    # Step folders are created in save() itself: created in a background thread,
    # a failure there leaves Orbax's writer waiting for a signal that never
    # comes (20 min), and the process cannot exit.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True,  # what a failed or killed write left behind
        async_options=ocp.AsyncOptions(create_directories_asynchronously=False))
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_handlers=ocp.StandardCheckpointHandler())

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
    try:
      return self._manager.save(step, args=ocp.args.StandardSave(tree), force=force)
    except Exception as e:  # noqa: BLE001  (an OSError, or TensorStore's for a full disk)
      raise OSError(f"{self.path(step)}: the checkpoint could not be written "
                    f"({_reason(e)}).") from None

  def restore(self, target, step: int | None = None, on_corrupt: str = "fallback"):
    """Restores into the structure, shapes and shardings of `target` (a state
    of concrete or abstract arrays), from `step` or else the newest checkpoint
    that restores.

    A checkpoint that does not restore is corrupt: with `on_corrupt="stop"`
    that raises ValueError naming it; with "fallback" (the default) a warning
    names it, it is moved to `<directory>_corrupt/` (never deleted) and the
    next older one is tried. A checkpoint of another structure or shapes is a
    config mismatch, not corruption: ValueError naming the differences.
    """
    _check_policy(on_corrupt)
    abstract = jax.tree.map(_abstract, flax.serialization.to_state_dict(target))
    for s in self._candidates(step):
      try:
        tree = self._restore_checked(s, abstract)
      except _Corrupt as e:
        self._corrupt(s, e, on_corrupt, move=step is None)
        continue
      return flax.serialization.from_state_dict(target, tree)
    raise self._nothing_left(step)

  def restore_raw(self, step: int | None = None, on_corrupt: str = "fallback") -> dict:
    """The saved state as a nested dict of host arrays (no target needed).
    `restore_latest_raw` also says which step it came from."""
    return self.restore_latest_raw(step, on_corrupt)[1]

  def restore_latest_raw(self, step: int | None = None,
                         on_corrupt: str = "fallback") -> tuple[int, dict]:
    """(step, state as host arrays) of `step`, else of the newest checkpoint
    that restores, on this process's first device whatever the topology it was
    written on. Corrupt ones are reported (see `restore`) but not moved."""
    _check_policy(on_corrupt)
    for s in self._candidates(step):
      try:
        abstract = jax.tree.map(_host_abstract, self._metadata(s))
        return s, jax.tree.map(np.asarray, self._restore_checked(s, abstract))
      except _Corrupt as e:
        self._corrupt(s, e, on_corrupt, move=False)
    raise self._nothing_left(step)

  def _candidates(self, step: int | None) -> list[int]:
    if step is not None:
      return [step]
    return sorted(self._manager.all_steps(), reverse=True)

  def _metadata(self, step: int):
    try:
      md = self._manager.item_metadata(step)
    except Exception as e:  # noqa: BLE001  (any failure to read it means a damaged checkpoint)
      raise _Corrupt(_reason(e)) from None
    tree = getattr(md, "tree", md)
    if not tree:
      raise _Corrupt("no readable metadata")
    return tree

  def _restore_checked(self, step: int, abstract):
    saved = self._metadata(step)
    _check_same_tree(saved, abstract, self.path(step))
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # noqa: BLE001  (metadata fits, so the data is damaged)
      if "tree structures do not match" in str(e):  # e.g. an empty sub-dict added or removed
        raise ValueError(f"{self.path(step)}: checkpoint does not fit this config or code "
                         f"version ({_reason(e)}); train in a new workdir or restore the "
                         "config it was written with.") from None
      raise _Corrupt(_reason(e)) from None

  def _corrupt(self, step: int, error: Exception, on_corrupt: str, move: bool) -> None:
    path = self.path(step)
    if on_corrupt == "stop":
      raise ValueError(f"{path}: corrupt checkpoint ({error}); move it away to resume from an "
                       "older one, or set config.train.on_corrupt_checkpoint='fallback'.")
    where = ""
    if move:
      dest = self._set_aside(step)
      where = f"; moved to {dest}" if dest else ""
    print(f"warning: {path}: corrupt checkpoint ({error}){where}; trying the next older one.",
          file=sys.stderr, flush=True)

  def _set_aside(self, step: int) -> Path | None:
    """Moves a corrupt step folder out of the manager's sight (process 0 moves it)."""
    dest = None
    if jax.process_index() == 0:
      folder = self.directory.with_name(self.directory.name + "_corrupt")
      folder.mkdir(parents=True, exist_ok=True)
      dest, n = folder / str(step), 1
      while dest.exists():
        dest, n = folder / f"{step}.{n}", n + 1
      shutil.move(str(self.path(step)), dest)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"checkpoint_set_aside_{step}")
    self._manager.reload()
    return dest

  def _nothing_left(self, step: int | None) -> Exception:
    if step is not None:
      return FileNotFoundError(f"{self.path(step)}: checkpoint does not restore.")
    aside = self.directory.with_name(self.directory.name + "_corrupt")
    if aside.is_dir():
      return FileNotFoundError(f"{self.directory}: no checkpoint restores (the corrupt ones are "
                               f"in {aside}); run again to start from step 0.")
    return FileNotFoundError(f"{self.directory}: no complete checkpoint to restore.")

  def path(self, step: int) -> Path:
    return self.directory / str(step)

  def wait(self) -> None:
    """Blocks until an in-flight save is complete; raises OSError (one line
    naming the folder) when it failed."""
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # noqa: BLE001  (an OSError or TensorStore error from the writer)
      self._failed = True
      raise OSError(f"{self.directory}: a checkpoint could not be written ({_reason(e)}).") from None

  def close(self) -> None:
    """Waits for an in-flight save (see `wait`), then releases the manager.
    A failed write is raised once (by `wait` or here), not again on close."""
    try:
      self.wait()
    finally:
      try:
        self._manager.close()
      except Exception as e:  # noqa: BLE001
        if not getattr(self, "_failed", False):
          self._failed = True
          raise OSError(f"{self.directory}: a checkpoint could not be written "
                        f"({_reason(e)}).") from None


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def _host_abstract(meta) -> jax.ShapeDtypeStruct:
  """A saved array's shape and dtype, placed on this process's first device."""
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.ShapeDtypeStruct(tuple(meta.shape), meta.dtype, sharding=device)


class _Corrupt(Exception):
  """A checkpoint whose metadata or data cannot be read."""


POLICIES = ("fallback", "stop")


def _check_policy(on_corrupt: str) -> None:
  if on_corrupt not in POLICIES:
    raise ValueError(f"config.train.on_corrupt_checkpoint={on_corrupt!r}: use one of "
                     f"{', '.join(POLICIES)}.")


def _reason(e: Exception) -> str:
  text = " ".join(str(e).split()) or type(e).__name__
  text = text.split(" See full TensorStore details")[0]
  if "Unable to retrieve default item" in text:
    text = "no state data: an empty or incomplete folder"
  return text if len(text) <= 160 else text[:157] + "..."


def _check_same_tree(saved, abstract, path: Path) -> None:
  """Raises ValueError when the checkpoint's structure or shapes differ from the target's."""
  def flat(tree):
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(k): tuple(getattr(v, "shape", ())) for k, v in leaves}
  got, want = flat(saved), flat(abstract)
  diff = [f"{k}: saved {got.get(k, 'missing')}, expected {want.get(k, 'missing')}"
          for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]
  if diff:
    more = f"; ... and {len(diff) - 6} more" if len(diff) > 6 else ""
    raise ValueError(f"{path}: checkpoint does not fit this config ({len(diff)} arrays differ: "
                     f"{'; '.join(diff[:6])}{more}); train in a new workdir or restore the "
                     "config it was written with.")
