"""Shared helpers of the study scripts in experiments/.

    from experiments import common       # (scripts put the repo root on sys.path)
    cfg = common.load_config("baselines/bm3d_bsd68_s25", "sigma=15")
    summary = common.evaluate(cfg, output_json="runs/x/bm3d.json")   # the evaluator
    summary = common.train(cfg, "runs/x/dncnn")                        # train_and_evaluate
    common.write_table("experiments/results/x.md", "Title", columns, rows, profile="cpu")

Training and evaluation go through `enhance_jax.training.loop.train_and_evaluate`
and `enhance_jax.api.evaluate` in-process (no second loop). Result files name
the exact command, the date and the profile. Study scripts must not define an absl
flag named `workdir` (enhance_jax.evaluate defines it; use e.g. `--runs_dir`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
RESULTS = ROOT / "experiments" / "results"
PROFILES = ("cpu", "paper")

CPU_NOTE = ("**cpu profile**: tiny models, few steps and/or few evaluation images on 2 shared CPU "
            "cores — a smoke-scale reproduction, not the paper's numbers. `--profile paper` sets "
            "the paper's settings (for a GPU/TPU cluster, see launch/).")


def command() -> str:
  """The command line that is running, as one would type it from the repo root."""
  script = Path(sys.argv[0]).resolve()
  try:
    script = script.relative_to(ROOT)
  except ValueError:
    pass
  return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def parse_study_args(doc: str, run_name: str, table: str, argv=None) -> argparse.Namespace:
  """--profile, --workdir (default runs/<run_name>_<profile>) and --results (where
  `table` and the PNGs go) of a study script whose docstring is `doc`."""
  parser = argparse.ArgumentParser(description=doc.splitlines()[0])
  parser.add_argument("--profile", choices=PROFILES, default="cpu")
  parser.add_argument("--workdir", default=None,
                      help=f"runs go here (default runs/{run_name}_<profile>)")
  parser.add_argument("--results", default=str(RESULTS), help=f"where {table} and the PNGs go")
  return parser.parse_args(argv)


def check_profile(profile: str) -> str:
  if profile not in PROFILES:
    raise ValueError(f"--profile={profile!r}: use one of {PROFILES}.")
  return profile


def load_config(name: str | Path, arg: str | None = None, **overrides):
  """A config by shipped name or path, with dotted `overrides` (checked against the schema)."""
  from enhance_jax import config as config_lib
  return config_lib.load_config(str(name).removesuffix(".py"), arg, overrides)


def train(config, workdir: str | Path, reuse: bool = True) -> dict:
  """Trains through `train_and_evaluate` (resumes from the workdir's checkpoints);
  returns the final eval summary plus 'seconds' and 'workdir'. With `reuse`, a
  workdir whose eval_metrics.json is at config.train.num_steps is not re-run."""
  from enhance_jax import config as config_lib
  from enhance_jax.training import loop
  workdir = Path(workdir)
  done = workdir / "eval_metrics.json"
  if reuse and done.exists():
    prev = json.loads(done.read_text())
    if prev.get("step") == int(config.train.num_steps):
      return {**_summary(prev), "seconds": prev.get("seconds", float("nan")),
              "workdir": str(workdir)}
  workdir.mkdir(parents=True, exist_ok=True)
  config_lib.save_run_config(config, workdir)
  t0 = time.time()
  summary = loop.train_and_evaluate(config, str(workdir))
  return {**summary, "seconds": time.time() - t0, "workdir": str(workdir)}


def evaluate(config, workdir: str | Path | None = None, output_json: str | Path | None = None,
             reuse: bool = True) -> dict:
  """Scores `config` with the evaluator (`enhance_jax.api.evaluate`): a trained
  workdir, imported weights (config.init_checkpoint) or a baseline config.
  With `reuse`, an existing `output_json` computed from the same config is returned."""
  from enhance_jax import api
  out = Path(output_json) if output_json else None
  key = config.to_json_best_effort(sort_keys=True)
  if reuse and out is not None and out.exists():
    prev = json.loads(out.read_text())
    if prev.get("config") == key:
      return prev
  t0 = time.time()
  result = api.evaluate(config, str(workdir) if workdir else None, None)
  result = {**result, "seconds": time.time() - t0, "config": key}
  if out is not None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
  return result


def _summary(result: dict) -> dict:
  return {k: v for k, v in result.items() if k != "per_image"}


def fmt(value: Any, digits: int = 2) -> str:
  """A table cell: numbers with `digits` decimals, None/NaN as '–'."""
  if value is None:
    return "–"
  if isinstance(value, float):
    return "–" if math.isnan(value) else f"{value:.{digits}f}"
  return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  head = "| " + " | ".join(columns) + " |\n|" + "|".join("---" for _ in columns) + "|\n"
  return head + "".join("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r)
                        + " |\n" for r in rows)


def write_table(path: str | Path, title: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], profile: str, notes: str = "",
                extra: str = "") -> Path:
  """Writes a markdown results file: title, the exact command, date, profile,
  the table, then `notes` and `extra` (more tables, figure links)."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  text = (f"# {title}\n\nGenerated by `{command()}` on {date} (profile `{profile}`).\n\n"
          + (CPU_NOTE + "\n\n" if profile == "cpu" else "")
          + markdown_table(columns, rows) + "\n"
          + (notes.strip() + "\n\n" if notes else "") + (extra.strip() + "\n" if extra else ""))
  path.write_text(text)
  print(f"wrote {path}", flush=True)
  return path
