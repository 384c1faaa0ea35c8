"""Lists what the package offers, or one model's size and cost.

  python -m enhance_jax.info                       # every section
  python -m enhance_jax.info --models --configs    # only these sections
  python -m enhance_jax.info --model=unet [--size=256] [--channels=3]
  python -m enhance_jax.info --config=pretrained/srcnn_955_x3 [--size=256]

Sections: registered models with parameter counts at default kwargs, datasets (where their files
are, whether built), degradations, losses, baselines, shipped configs, importable pretrained
weights, the zoo's models (benchmark PSNR from their cards). `--model=NAME` prints its parameters
and forward FLOPs per size x size x channels image, counted from the jaxpr. `--config=SPEC`
prints the config's keys that differ from the defaults and its model's parameters and FLOPs
(its kwargs, its input channels). The first line names the backend and the convolution
implementation that runs on it. Nothing is built, compiled, downloaded or written
(enhance_jax/catalog.py).
"""
from __future__ import annotations

import os
import sys

from absl import flags

from enhance_jax import catalog, cli

FLAGS = flags.FLAGS
_WHAT = {"models": "registered models with parameter counts", "datasets": "datasets, their files "
         "and whether built", "pretrained": "importable pretrained weights",
         "zoo": "models trained by this codebase (zoo/)"}
for _section in catalog.SECTIONS:
  flags.DEFINE_bool(_section, False,
                    f"List the {_WHAT.get(_section, _section)} (default: every section).")
cli.define_config_flag("", help_text="A config (file or shipped name, --config.KEY=V overrides "
                       "apply): print its keys that differ from the defaults, and its model's "
                       "parameters and FLOPs.")
flags.DEFINE_string("model", None, "A registered model: print its parameters and FLOPs per image.")
flags.DEFINE_integer("size", 256, "With --model: image height and width for the FLOP count.")
flags.DEFINE_integer("channels", 3, "With --model: image channels for the FLOP count.")


def main():
  chosen = [s for s in catalog.SECTIONS if FLAGS[s].value]
  if not FLAGS.model and FLAGS["channels"].present:
    cli.usage_error("--channels goes with --model=NAME")
  if not (FLAGS.model or FLAGS.config) and FLAGS["size"].present:
    cli.usage_error("--size goes with --model=NAME or --config=SPEC")
  if FLAGS.model and FLAGS.config:
    cli.usage_error("give --model=NAME or --config=SPEC, not both")
  if FLAGS.config:
    text = "\n".join([catalog.backend_line()] + _config_report(cli.config()))
  elif FLAGS.model:
    lines = [catalog.backend_line()]
    lines += catalog.model_report(FLAGS.model, FLAGS.size, FLAGS.channels)
    if chosen:
      lines += ["", catalog.report(chosen, header=False)]
    text = "\n".join(lines)
  else:
    text = catalog.report(chosen or catalog.SECTIONS)
  try:
    print(text, flush=True)
  except BrokenPipeError:  # the reader stopped early (`| head`): no traceback
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _config_report(config) -> list[str]:
  from enhance_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from enhance_jax.training import components  # pylint: disable=g-import-not-at-top
  lines = [f"config {FLAGS.config} (keys that differ from the defaults):"]
  flat = config_lib.flatten(config)
  lines += [f"  {k} = {flat.get(k)!r}" for k in config_lib.diff(config_lib.base_config(), config)
            if k in flat]
  channels = components.sample_input(config)["input"].shape[-1]
  return lines + catalog.model_report(config.model.name, FLAGS.size, channels,
                                      dict(config.model.kwargs.to_dict()))


if __name__ == "__main__":
  cli.run(main)
