"""Train a config: `python -m enhance_jax.train [--config=SPEC] [--workdir=DIR] [--config.KEY=V]`.

With no flags it trains the shipped default config (`enhance_jax/configs/default.py`) into
./workdir/default. --config takes a file or a shipped config name; any key can be overridden,
e.g. `--config.train.num_steps=1000`. Running the same command again resumes; with --workdir
and no --config, the config saved in the workdir is resumed.
"""
from __future__ import annotations

from pathlib import Path

from absl import flags

from enhance_jax import cli, distributed

cli.define_config_flag("default (enhance_jax/configs/default.py), or the config saved in "
                       "--workdir when resuming")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the run writes everything "
                               "(default: ./workdir/<config name>).")


def main():
  distributed.initialize()
  workdir = _WORKDIR.value or str(Path("workdir") / cli.config_name())
  config = cli.config(workdir)
  from enhance_jax import api  # after jax.distributed is set up
  api.train(config, workdir)


if __name__ == "__main__":
  cli.run(main)
