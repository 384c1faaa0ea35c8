"""Where shared benchmark data lives: one setting for tests, benchmarks and configs."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ENHANCE_JAX_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
  """`$ENHANCE_JAX_DATA`, else `../shared/data` beside the repository root."""
  env = os.environ.get(ENV_VAR)
  if env:
    return Path(env).expanduser().resolve()
  return (REPO_ROOT / ".." / "shared" / "data").resolve()


def shared_subdir(*parts: str) -> Path:
  """A sub-folder of the shared data, e.g. `shared_subdir('bsd68')`."""
  return shared_data_dir().joinpath(*parts)
