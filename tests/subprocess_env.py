"""The environment of the tests that start entry points in a subprocess.

The repository on PYTHONPATH (the checkout under test, whatever is installed), JAX on the CPU,
and a persistent compilation cache shared by those subprocesses, so each run compiles less.
"""
from __future__ import annotations

import os
import subprocess
import sys
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


def run_entry_point(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
  """`python -m enhance_jax.<module> ARGS` on one CPU device; raises on a non-zero exit when
  `check`, showing its output."""
  env = dict(subprocess_env(), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run([sys.executable, "-m", f"enhance_jax.{module}", *args],
                        capture_output=True, text=True, env=env, timeout=600)
  if check and proc.returncode:
    raise AssertionError(f"{module} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc
