"""Test session set-up: 4 virtual CPU devices, small thread pools, data paths.

XLA_FLAGS must be set before JAX initialises, hence here. Tests that need the
shared benchmark data use the `shared_data` fixture, which skips with a clear
reason when the folder is absent.
"""
import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=4").strip()

import pytest  # noqa: E402

from enhance_jax.data import paths  # noqa: E402  (applies the package's XLA defaults)


@pytest.fixture(scope="session")
def shared_data():
  """The shared benchmark data folder ($ENHANCE_JAX_DATA or ../shared/data)."""
  root = paths.shared_data_dir()
  if not root.is_dir():
    pytest.skip(f"shared benchmark data not found at {root}; set {paths.ENV_VAR} to its folder.")
  return root


@pytest.fixture
def tiny_config():
  """The default config shrunk to run a few steps in seconds on a CPU."""
  from enhance_jax.config import base_config
  c = base_config()
  c.model.kwargs = dict(features=4, depth=2, out_channels=3, residual=True)
  c.data.patch_size = 32
  c.train.batch_size = 4
  c.train.num_steps = 6
  c.train.log_every = 1
  c.train.eval_every = 6
  c.train.checkpoint_every = 3
  c.data.eval_max_size = 64
  c.eval.grid_images = 1
  c.optimizer.warmup_steps = 2
  return c
