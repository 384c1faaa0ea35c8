"""Evaluate a model: `python -m enhance_jax.evaluate [--config=SPEC] [--workdir=DIR] [--output_json=F]`.

The config is --config when given, else the one training saved in --workdir (with any
--config.KEY=V overrides applied, e.g. `--config.eval.use_ema=False`). Uses the latest
checkpoint in --workdir (EMA parameters when present and eval.use_ema), or
`config.init_checkpoint` (imported official weights), or, for a classical baseline config
(`config.baseline.name` set), no weights at all. Scores every evaluation set of the config
(`config.evals`, or the one set "eval"), or those named by --eval. Each set's eval_metrics.json
and eval_grid.png go to <output_dir>/<set name>/ (default output_dir: <workdir>/eval), never over
the training run's files. See `enhance_jax.api.evaluate`.
"""
from __future__ import annotations

from absl import flags

from enhance_jax import cli, distributed

cli.define_config_flag("the config saved in --workdir by training")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/.")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Also write the metrics JSON here.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Each set's eval_metrics.json and "
                                  "eval_grid.png go to OUTPUT_DIR/<set name>/ (default: "
                                  "<workdir>/eval; never over the training run's files).")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default: each set's "
                             "data.eval_split).")
_EVAL = flags.DEFINE_list("eval", None, "Evaluation sets to score, by name (config.evals); "
                          "default: all of them.")

_ENSEMBLE = flags.DEFINE_bool("self_ensemble", None, "x8 test-time self-ensemble (flips/rotations "
                              "averaged in the eval step): sets config.eval.self_ensemble.")


def main():
  distributed.initialize()
  config = cli.config(_WORKDIR.value)
  if _ENSEMBLE.value is not None:
    config.eval.self_ensemble = _ENSEMBLE.value
  from enhance_jax import api
  api.evaluate(config, _WORKDIR.value, _OUTPUT_JSON.value, _SPLIT.value, evals=_EVAL.value,
               output_dir=_OUTPUT_DIR.value)


if __name__ == "__main__":
  cli.run(main)
