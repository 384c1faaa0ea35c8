"""Train a config: `python -m enhance_jax.train [--config=FILE] [--workdir=DIR]`.

With no flags it trains the default config (experiments/configs/default.py)
into ./workdir/default. Any config key can be overridden, e.g.
`--config.train.num_steps=1000`. Running the same command again resumes.
"""
from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from enhance_jax import config as config_lib
from enhance_jax import distributed

_CONFIG = config_lib.define_config_flag("Config file (get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the run writes everything "
                               "(default: ./workdir/<config file name>).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax and grain are chatty at INFO
  distributed.initialize()
  from enhance_jax.training import loop  # after jax.distributed is set up
  try:
    config = config_lib.resolve(_CONFIG, None)
  except FileNotFoundError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  workdir = _WORKDIR.value or str(Path("workdir") / Path(_config_path()).stem)
  logging.info("Config:\n%s", config)
  import jax
  if jax.process_index() == 0:
    config_lib.save_run_config(config, workdir)
  try:
    loop.train_and_evaluate(config, workdir)
  except (loop.NonFiniteLossError, ValueError, KeyError, FileNotFoundError) as e:
    distributed.exit_with_error(e)


def _config_path() -> str:
  return config_flags.get_config_filename(flags.FLAGS["config"])


if __name__ == "__main__":
  app.run(main)
