"""Lists what the package offers, or one model's size and cost.

  python -m enhance_jax.info                       # every section
  python -m enhance_jax.info --models --configs    # only these sections
  python -m enhance_jax.info --model=unet [--size=256] [--channels=3]

Sections: registered models with parameter counts at default kwargs, datasets (where their files
are, whether built), degradations, losses, baselines, shipped configs, importable pretrained
weights. `--model=NAME` prints its parameters and forward FLOPs per size x size x channels image,
counted from the jaxpr. The first line names the backend and the convolution implementation that
runs on it. Nothing is built, compiled, downloaded or written (enhance_jax/catalog.py).
"""
from __future__ import annotations

import os
import sys

from absl import flags

from enhance_jax import catalog, cli

FLAGS = flags.FLAGS
_WHAT = {"models": "registered models with parameter counts", "datasets": "datasets, their files "
         "and whether built", "pretrained": "importable pretrained weights"}
for _section in catalog.SECTIONS:
  flags.DEFINE_bool(_section, False,
                    f"List the {_WHAT.get(_section, _section)} (default: every section).")
flags.DEFINE_string("model", None, "A registered model: print its parameters and FLOPs per image.")
flags.DEFINE_integer("size", 256, "With --model: image height and width for the FLOP count.")
flags.DEFINE_integer("channels", 3, "With --model: image channels for the FLOP count.")


def main(argv):
  cli.quiet_logs()
  cli.no_positional(argv)
  chosen = [s for s in catalog.SECTIONS if FLAGS[s].value]
  if not FLAGS.model and (FLAGS["size"].present or FLAGS["channels"].present):
    cli.usage_error("--size and --channels go with --model=NAME")
  try:
    if FLAGS.model:
      lines = [catalog.backend_line()]
      lines += catalog.model_report(FLAGS.model, FLAGS.size, FLAGS.channels)
      if chosen:
        lines += ["", catalog.report(chosen, header=False)]
      text = "\n".join(lines)
    else:
      text = catalog.report(chosen or catalog.SECTIONS)
  except cli.USER_ERRORS as e:
    cli.fail(e)
  try:
    print(text, flush=True)
  except BrokenPipeError:  # the reader stopped early (`| head`): no traceback
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

if __name__ == "__main__":
  cli.run(main)
