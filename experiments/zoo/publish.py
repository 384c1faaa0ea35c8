"""Publishes a finished training run as a zoo model: `zoo/NAME/` (weights, curve, card) and the
index `zoo/README.md` (see experiments/zoo/card.py for what each file holds).

  python -m enhance_jax.train --config=zoo/dncnn_s25:init=random --workdir=runs/zoo_dncnn_s25
  python experiments/zoo/publish.py --workdir=runs/zoo_dncnn_s25 --name=dncnn_s25
  python -m enhance_jax.evaluate --config=zoo/dncnn_s25          # prints the card's numbers

The card's scores are `api.evaluate` of `--config=zoo/NAME` (the zoo weights) on each of the
config's evaluation sets; "PSNR after 10/30/60/90 minutes" scores the last checkpoint saved
within that much wall time of the training loop on the first set. An existing `zoo/NAME/` is
replaced only with --force; the zoo is $ENHANCE_JAX_ZOO, else `zoo/` at the repo root.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from absl import app, flags  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "The finished training workdir of "
                               "`--config=zoo/NAME:init=random` (checkpoints/, metrics.jsonl); "
                               "not with --refresh.")
_NAME = flags.DEFINE_string("name", None, "The zoo model: enhance_jax/configs/zoo/NAME.py.",
                            required=True)
_ARG = flags.DEFINE_string("arg", "", "The config argument of the run besides init "
                           "(e.g. profile=paper); default: the cpu profile.")
_FORCE = flags.DEFINE_bool("force", False, "Replace an existing zoo/NAME/.")
_CACHE = flags.DEFINE_string("cache", None, "Keep each scoring (weights hash + config) in this "
                             "folder and reuse it: a re-run scores no checkpoint twice.")
_REFRESH = flags.DEFINE_bool("refresh", False, "Only recompute the comparison rows of the "
                             "published card NAME from its card.json and the results files "
                             "(no --workdir; scores and weights unchanged).")
_LOAD_NOTE = flags.DEFINE_string("load_note", "", "What is known of the machine's load during "
                                 "training (the run does not record it), written in the card.")


def main():
  from experiments import tables
  from experiments.zoo import card
  if _REFRESH.value:
    out = card.refresh(_NAME.value)
    print(f"rewrote {out}/card.json, {out}/README.md and {out.parent / 'README.md'}", flush=True)
    return
  if not _WORKDIR.value:
    raise ValueError("--workdir is required (the finished training run), unless --refresh.")
  out = card.publish(_WORKDIR.value, _NAME.value, _ARG.value, force=_FORCE.value,
                     load_note=_LOAD_NOTE.value, command=tables.command(),
                     cache=_CACHE.value)
  print(f"wrote {out}/ (variables, metrics.jsonl, curve.png, card.json, README.md) and "
        f"{out.parent / 'README.md'}", flush=True)


def _run() -> None:
  """`app.run(main)` with the one error path: a user's mistake (a missing or unfinished
  workdir, a card already there) ends as one `error:` line and exit status 1."""
  from enhance_jax import cli

  def _main(argv):
    cli.no_positional(argv)
    cli.quiet_logs()
    try:
      main()
    except cli.USER_ERRORS as e:
      cli.fail(e)

  def _parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      cli.fail(f"{e} (see --help).")

  app.run(_main, flags_parser=_parse)


if __name__ == "__main__":
  _run()
