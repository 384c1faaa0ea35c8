"""Model variables files: a Flax variables dict ({'params': ..., 'batch_stats': ...})
saved as an Orbax checkpoint directory. `import_weights` writes them; configs
point `init_checkpoint` at them; `evaluate`/`enhance` read them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp


def save_variables(path: str | os.PathLike, variables: dict, force: bool = True) -> Path:
  """Writes `variables` (a pytree of arrays) to the directory `path` (atomic).

  Synchronous: a failed write (a read-only or full disk, a path under a file)
  raises OSError naming `path` and leaves no temporary folder, instead of
  failing in a background thread that the interpreter then waits for forever.
  """
  path = Path(path).resolve()
  variables = jax.tree.map(np.asarray, variables)
  probe = path.parent / f".{path.name}.probe{os.getpid()}"
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"\0" * 4096)  # a read-only folder or a full disk fails here
    probe.unlink()
    ckptr = ocp.Checkpointer(ocp.StandardCheckpointHandler())
    try:
      ckptr.save(path, variables, force=force)
    finally:
      ckptr.close()
  except Exception as e:  # noqa: BLE001  (OSError, or TensorStore's errors for a full disk)
    if probe.exists():
      probe.unlink()
    for tmp in path.parent.glob(f"{path.name}.orbax-checkpoint-tmp*") if path.parent.is_dir() else ():
      shutil.rmtree(tmp, ignore_errors=True)
    reason = getattr(e, "strerror", None) or " ".join(str(e).split())
    if "No space left" in reason:
      reason = "No space left on device"
    blocker = next((a for a in path.parents if a.exists()), None)
    if blocker is not None and not blocker.is_dir():
      reason = f"{blocker} is a file, not a folder"
    raise OSError(f"{path}: cannot write the weights ({reason}).") from None
  return path


def load_variables(path: str | os.PathLike) -> dict:
  """Reads a variables directory written by `save_variables` as numpy arrays."""
  path = Path(path).resolve()
  if not path.exists():
    raise FileNotFoundError(f"{path}: no such variables checkpoint "
                            "(run `python -m enhance_jax.import_weights` or train first).")
  with ocp.StandardCheckpointer() as ckptr:
    restored = ckptr.restore(path)
  return jax.tree.map(np.asarray, restored)


def check_shapes(expected: dict, got: dict, source: str) -> None:
  """Raises ValueError listing every parameter whose path or shape differs."""
  flat_e = {jax.tree_util.keystr(k): np.shape(v)
            for k, v in jax.tree_util.tree_flatten_with_path(expected)[0]}
  flat_g = {jax.tree_util.keystr(k): np.shape(v)
            for k, v in jax.tree_util.tree_flatten_with_path(got)[0]}
  problems = []
  for k in sorted(set(flat_e) | set(flat_g)):
    if k not in flat_g:
      problems.append(f"{k}: missing (expected {flat_e[k]})")
    elif k not in flat_e:
      problems.append(f"{k}: unexpected (shape {flat_g[k]})")
    elif flat_e[k] != flat_g[k]:
      problems.append(f"{k}: shape {flat_g[k]}, expected {flat_e[k]}")
  if problems:
    shown = "; ".join(problems[:12])
    more = f"; ... and {len(problems) - 12} more" if len(problems) > 12 else ""
    raise ValueError(f"{source}: does not fit the model ({len(problems)} parameters differ): "
                     f"{shown}{more}")
