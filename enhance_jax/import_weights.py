"""Converts official pretrained weights into our variables checkpoints.

  python -m enhance_jax.import_weights --model=dncnn_s25 [--source_dir=...] [--output_dir=...]
  python -m enhance_jax.import_weights --model=all
  python -m enhance_jax.import_weights --list
  python -m enhance_jax.import_weights --config=pretrained/srcnn_955_x3

Each model NAME is written to `output_dir/NAME` (`weights.variables.save_variables`),
which the shipped configs `pretrained/NAME` (enhance_jax/configs/pretrained/) use as `init_checkpoint`.
With --config, the weights that config evaluates are imported: the model named by the last part
of its `init_checkpoint`, written at that path. Every requested model is read and checked first; nothing is written unless
all of them load.
"""
from __future__ import annotations

import os
from pathlib import Path

from absl import flags

from enhance_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Pretrained model name, a comma-separated list, or 'all'.")
flags.DEFINE_string("source_dir", None, "Folder of the official weight files "
                    "(default: shared_data_dir()/weights).")
flags.DEFINE_string("output_dir", None, "Where to write the variables "
                    "(default: $ENHANCE_JAX_WEIGHTS or ./weights).")
flags.DEFINE_bool("list", False, "List the importable models and exit.")
cli.define_config_flag("", help_text="A pretrained config (e.g. pretrained/srcnn_955_x3): import "
                       "the weights it evaluates, at its init_checkpoint (instead of --model).")


def default_output_dir() -> Path:
  return Path(os.environ.get("ENHANCE_JAX_WEIGHTS", "weights"))


def run(models: list[str], source_dir: str | os.PathLike | None,
        output_dir: str | os.PathLike) -> list[Path]:
  """Imports `models`; returns the written paths. Raises on the first bad model, writing nothing."""
  from enhance_jax.weights import importers, variables  # pylint: disable=g-import-not-at-top
  loaded = {name: importers.load(name, source_dir) for name in models}
  output_dir = Path(output_dir)
  written = []
  for name, v in loaded.items():
    written.append(variables.save_variables(output_dir / name, v))
  return written


def main():
  from enhance_jax.weights import importers  # pylint: disable=g-import-not-at-top
  if FLAGS.list:
    for name in importers.names():
      spec = importers.PRETRAINED[name]
      print(f"{name:20s} {spec.description}  [{', '.join(spec.files)}]")
    return
  if FLAGS.config:
    if FLAGS.model or FLAGS.output_dir:
      cli.usage_error("--config names the model and where it goes; drop --model/--output_dir")
    target = Path(cli.config().init_checkpoint)
    if target.name not in importers.PRETRAINED:
      raise ValueError(f"--config={FLAGS.config}: its init_checkpoint {str(target)!r} does not "
                       f"end in an importable model name; known: {', '.join(importers.names())}.")
    written = run([target.name], FLAGS.source_dir, target.parent)
    for path in written:
      print(f"wrote {path}")
    return
  if not FLAGS.model:
    cli.usage_error("--model or --config is required (a name, a comma-separated list or 'all'; "
                    "see --list)")
  models = importers.names() if FLAGS.model == "all" else [
      m.strip() for m in FLAGS.model.split(",") if m.strip()]
  unknown = [m for m in models if m not in importers.PRETRAINED]
  if unknown:
    cli.usage_error(f"--model: unknown model(s) {', '.join(unknown)}; "
                    f"known: {', '.join(importers.names())}")
  output_dir = FLAGS.output_dir or default_output_dir()
  written = run(models, FLAGS.source_dir, output_dir)
  for path in written:
    print(f"wrote {path}")


if __name__ == "__main__":
  cli.run(main)
