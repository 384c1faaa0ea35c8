"""The environment of the tests that start entry points in a subprocess.

The repository on PYTHONPATH (the checkout under test, whatever is installed), JAX on the CPU,
and a persistent compilation cache shared by those subprocesses, so each run compiles less.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(persist_all: bool = False) -> dict:
  """os.environ plus the above; `persist_all` caches every compilation (however small)."""
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
  env.setdefault("JAX_PLATFORMS", "cpu")
  env.setdefault("JAX_COMPILATION_CACHE_DIR",
                 str(Path(tempfile.gettempdir()) / "enhance_jax_test_jax_cache"))
  if persist_all:
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
  return env
