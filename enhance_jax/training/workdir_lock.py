"""One training run per workdir: `<workdir>/.lock` names the run that holds it.

The lock is an exclusive `flock` on the file (released by the kernel when the
holder exits, even on `kill -9`) and the file's text names the holder's PID,
host and start time, so a second run can say who holds it. A lock file left
by a run that is gone (its flock is free) is stale: it is taken over with a
warning naming the dead PID.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_NAME = ".lock"


class WorkdirBusyError(OSError):
  """Another live run holds the workdir; the message names its PID and host."""


class WorkdirLock:
  """Context manager holding `<workdir>/.lock` for this process."""

  def __init__(self, workdir: str | os.PathLike):
    self.path = Path(workdir) / LOCK_NAME
    self._fd: int | None = None

  def acquire(self) -> "WorkdirLock":
    """Takes the lock; raises WorkdirBusyError (one line) when a live run holds it."""
    self.path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = _describe(_read(fd))
      os.close(fd)
      raise WorkdirBusyError(
          f"{self.path.parent}: in use by another training run ({holder}); wait for it to end, "
          f"or stop it, or use another --workdir.") from None
    previous = _read(fd)
    if previous:
      print(f"warning: {self.path}: stale lock of a run that is gone ({_describe(previous)}); "
            "taking it over.", file=sys.stderr, flush=True)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)  # an empty lock file is a clean one: no stale warning
    finally:
      os.close(self._fd)  # closing drops the flock
      self._fd = None

  def __enter__(self) -> "WorkdirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


def _read(fd: int) -> dict:
  try:
    text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    return json.loads(text) if text else {}
  except (OSError, ValueError):
    return {"unreadable": True}


def _describe(info: dict) -> str:
  if not info or "pid" not in info:
    return "holder unknown"
  return f"PID {info['pid']} on host {info.get('host', '?')}, started {info.get('started', '?')}"
