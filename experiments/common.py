"""What the study scripts in experiments/ share: their one flag set, running a study config's
rows in-process, and writing the results tables.

A study is a config file, `enhance_jax/configs/studies/<study>.py`, whose `get_config(ARG)`
is one row of its table (ARG = 'model=dncnn,sigma=25,profile=cpu') and whose `rows(profile)`
lists the rows. A study script only runs those rows through `enhance_jax.api` (no entry-point
module, so no flags but these), reads the numbers the runs wrote and tabulates them:

    from experiments import common        # (scripts put the repo root on sys.path)
    run = common.train_row("ablations", "variant=full")        # api.train, or reused
    run.results["bsd68_s25"]["psnr"], run.command                # the number and its command
    common.write_table(path, title, columns, rows, commands=[...])
    if __name__ == "__main__": common.run(main)

Flags (every study script): --profile (cpu | paper), --workdir (runs go to
<workdir>/<row>; default runs/<study>_<profile>), --results (where tables and figures go).
"""
from __future__ import annotations

import datetime
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from absl import app, flags

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from enhance_jax.configs._profiles import PROFILES  # noqa: E402
from experiments.tables import command, fmt, markdown_table  # noqa: E402,F401  (re-exported)

RESULTS = ROOT / "experiments" / "results"

PROFILE = flags.DEFINE_enum("profile", "cpu", list(PROFILES),
                            "Study profile: cpu (minutes on 2 CPU cores, small models) or paper "
                            "(the papers' settings, for a GPU/TPU; see launch/).")
WORKDIR = flags.DEFINE_string("workdir", None,
                              "Runs go to <workdir>/<row> (default runs/<study>_<profile>).")
RESULTS_DIR = flags.DEFINE_string("results", str(RESULTS), "Where the tables and figures go.")

CPU_NOTE = ("**cpu profile**: tiny models, few steps and/or few evaluation images on 2 shared CPU "
            "cores — a smoke-scale reproduction, not the paper's numbers. `--profile=paper` sets "
            "the paper's settings (for a GPU/TPU cluster, see launch/).")


def run(main) -> None:
  """`app.run(main)`: `main()` takes no argument; a user's mistake (bad config, missing
  data) ends as one `error:` line and exit status 1."""
  from enhance_jax import cli

  def _main(argv):
    cli.no_positional(argv)
    # Import the code every run uses now, so all rows run the code of one moment (the checkout
    # may change while a study runs; a row's command re-makes it from the same code).
    from enhance_jax import api, models  # noqa: F401
    from enhance_jax.training import evaluation, loop  # noqa: F401
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


def profile() -> str:
  return PROFILE.value


def workdir(study: str) -> Path:
  return Path(WORKDIR.value or ROOT / "runs" / f"{study}_{profile()}")


def results_dir() -> Path:
  path = Path(RESULTS_DIR.value)
  path.mkdir(parents=True, exist_ok=True)
  return path


def _shown(path: Path) -> str:
  path = Path(path).resolve()
  try:
    return str(path.relative_to(ROOT))
  except ValueError:
    return str(path)


# --- Rows --------------------------------------------------------------------------------------

def study_module(study: str):
  import importlib
  return importlib.import_module(f"enhance_jax.configs.studies.{study}")


def rows(study: str) -> list[str]:
  """The row arguments of `study` under --profile (without the profile)."""
  return study_module(study).rows(profile())


def row_arg(arg: str) -> str:
  return f"{arg},profile={profile()}" if arg else f"profile={profile()}"


def row_dir(arg: str) -> str:
  """'model=dncnn,sigma=25' -> 'model-dncnn_sigma-25' (a row's folder under the workdir)."""
  return "_".join(part.replace("=", "-") for part in arg.split(",") if part) or "default"


def load(study: str, arg: str):
  """The checked config of one row (`--config=studies/<study>:<arg>,profile=<profile>`)."""
  from enhance_jax import api
  return api.load_config(f"studies/{study}", row_arg(arg))


@dataclass
class Row:
  """One run of a row: its config, where it ran, what it wrote and the command that re-makes it."""
  study: str
  arg: str
  config: Any
  dir: Path
  command: str
  results: dict = field(default_factory=dict)   # {eval set name: summary (+ per_image)}
  train_s: float = 0.0

  @property
  def spec(self) -> str:
    return f"studies/{self.study}:{row_arg(self.arg)}"

  def metric(self, key: str = "psnr", name: str | None = None) -> float:
    """`key` of the eval set `name` (the only/first set when None)."""
    result = self.results[name] if name else next(iter(self.results.values()))
    return result[key]


def run_row(study: str, arg: str) -> Row:
  """Runs one row as its config says: a learned row (train.num_steps > 0) is trained
  (`train_row`); a classical baseline or imported weights (imported first when missing) is
  scored (`evaluate_row`)."""
  config = load(study, arg)
  if config.train.num_steps > 0 and not config.baseline.name:
    return train_row(study, arg)
  if config.init_checkpoint:
    ensure_weights(config.init_checkpoint)
  return evaluate_row(study, arg)


def ensure_weights(checkpoint: str | Path) -> None:
  """Imports the official weights into `checkpoint` (a path ending in the pretrained name) if
  missing: what `python -m enhance_jax.import_weights --model=NAME` does."""
  path = Path(checkpoint)
  if not path.exists():
    from enhance_jax.weights import importers, variables
    variables.save_variables(path, importers.load(path.name))


def train_row(study: str, arg: str) -> Row:
  """Trains one learned row through `api.train` in <workdir>/<row>, or reuses a finished run
  of the same config there. The row's numbers are the run's eval_metrics.json, which
  `python -m enhance_jax.train --config=studies/<study>:<arg> --workdir=W` writes alone.
  A finished run whose config differs only in evaluation keys (`eval.*`, `evals.*`, e.g.
  LPIPS added) is re-scored under the row's config (`rescore`), not retrained; any other
  difference is refused."""
  from enhance_jax import api
  from enhance_jax import config as config_lib
  config = load(study, arg)
  run_dir = workdir(study) / row_dir(arg)
  spec = f"studies/{study}:{row_arg(arg)}"
  saved = config_lib.load_run_config(run_dir) if (run_dir / "config.json").is_file() else None
  differs = config_lib.diff(saved, config) if saved is not None else []
  metrics = run_dir / "eval_metrics.json"
  finished = saved is not None and _finished(metrics, int(config.train.num_steps))
  if differs and not (finished and all(_is_eval_key(k) for k in differs)):
    keys = ", ".join(differs[:5])
    raise ValueError(f"{run_dir} holds a run of another config (differs in {keys}); delete it "
                     "or pass another --workdir.")
  if not finished:
    api.train(config, run_dir)
  results = (rescore(config, run_dir) if differs else json.loads(metrics.read_text()))
  return Row(study, arg, config, run_dir,
             f"python -m enhance_jax.train --config={spec} --workdir={_shown(run_dir)}",
             results, train_seconds(run_dir / "metrics.jsonl"))


def _is_eval_key(key: str) -> bool:
  """An evaluation-only config key (`eval.*`, `evals.*`): it changes the scores, not the run."""
  return key.split(".", 1)[0] in ("eval", "evals")


def rescore(config, run_dir: Path) -> dict:
  """{set name: result} of the finished run in `run_dir` scored under `config`'s evaluation
  keys (the run was trained with the same config but other `eval.*`/`evals.*`): `api.evaluate`
  of its final checkpoint into <run_dir>/study_eval/ (eval.json, the config it was scored
  under in study_config.json; reused while that config is the same). The training run's own
  files are left as they are. Training this config on a fresh workdir evaluates at the last
  step with the same weights, so gives the same numbers."""
  from enhance_jax import api
  from enhance_jax.training import logs
  folder = run_dir / "study_eval"
  out, key = folder / "eval.json", folder / "study_config.json"
  text = config.to_json_best_effort(sort_keys=True)
  if out.is_file() and key.is_file() and key.read_text() == text:
    return json.loads(out.read_text())
  results = api.evaluate(config, workdir=str(run_dir), output_json=str(out),
                         output_dir=str(folder))
  logs.write_text(key, text)
  return results


def _finished(metrics: Path, num_steps: int) -> bool:
  if not metrics.is_file():
    return False
  report = json.loads(metrics.read_text())
  return bool(report) and all(isinstance(r, dict) and r.get("step") == num_steps
                              for r in report.values())


def evaluate_row(study: str, arg: str) -> Row:
  """Scores one row without training (a classical baseline or imported weights) through
  `api.evaluate`, all its eval sets, into <workdir>/<row>/eval.json. A result of the same
  config is reused: that file (with `study_config.json` beside it) or one computed for
  another study (<workdir>/../_evaluated/<hash of the config>.json; e.g. BM3D on BSD68 σ=25
  is a row of two studies). The config's text includes a digest of the files of its
  `init_checkpoint` (weights re-published under the same path, as a zoo card's, are
  re-scored)."""
  import hashlib
  from enhance_jax import api
  config = load(study, arg)
  run_dir = workdir(study) / row_dir(arg)
  out = run_dir / "eval.json"
  key = run_dir / "study_config.json"
  text = config.to_json_best_effort(sort_keys=True) + _weights_digest(config.init_checkpoint)
  shared = (workdir(study).parent / "_evaluated"
            / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")
  if out.is_file() and key.is_file() and key.read_text() == text:
    results = json.loads(out.read_text())
  elif shared.is_file():
    results = json.loads(shared.read_text())
  else:
    results = api.evaluate(config, None, str(out))
  from enhance_jax.training import logs
  if not out.is_file() or not key.is_file() or key.read_text() != text:
    logs.write_json(out, results)
    logs.write_text(key, text)
  if not shared.is_file():
    logs.write_json(shared, results)
  spec = f"studies/{study}:{row_arg(arg)}"
  return Row(study, arg, config, run_dir,
             f"python -m enhance_jax.evaluate --config={spec} --output_json={_shown(out)}",
             results)


def _weights_digest(checkpoint: str) -> str:
  """'' without weights; else a line with the sha256 of the checkpoint's files (names and bytes)."""
  import hashlib
  path = Path(checkpoint)
  if not checkpoint or not path.exists():
    return ""
  files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
  h = hashlib.sha256()
  for f in files:
    h.update(str(f.relative_to(path.parent)).encode())
    h.update(f.read_bytes())
  return f"\nweights sha256 {h.hexdigest()}"


# --- Reading runs ------------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict]:
  path = Path(path)
  if not path.is_file():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_seconds(metrics_jsonl: Path) -> float:
  """Wall time of the training steps, from the logged steps/s (survives resumes)."""
  total, prev = 0.0, 0
  for r in read_jsonl(metrics_jsonl):
    if r.get("split") == "train" and r.get("steps_per_s", 0) > 0:
      total += (r["step"] - prev) / r["steps_per_s"]
      prev = r["step"]
  return total


def zoo_training(config) -> dict:
  """The `train` section of the zoo card whose weights `config.init_checkpoint` names (steps,
  batch_size, wall_seconds, ...): a zoo row's training is the card's run, not the study's."""
  card = Path(config.init_checkpoint).parent / "card.json"
  return json.loads(card.read_text())["train"]


def count_params(config) -> int:
  """Parameters of the config's model (shapes only, nothing is computed)."""
  import jax
  import numpy as np
  from enhance_jax import models
  from enhance_jax.training import components
  model = components.model(config)
  sample = components.sample_input(config)
  extras = {k: sample[k] for k in models.extra_inputs(model)}
  key = jax.random.PRNGKey(0)
  shapes = jax.eval_shape(lambda x, e: model.init({"params": key, "dropout": key}, x,
                                                  train=False, **e), sample["input"], extras)
  return int(sum(np.prod(v.shape) for v in jax.tree.leaves(shapes["params"])))


def mean_of(per_image: list[dict], key: str, names: set[str] | None = None) -> float:
  vals = [p[key] for p in per_image if names is None or p["name"] in names]
  return sum(vals) / len(vals)


# --- Tables (cells and tables: experiments/tables.py) -------------------------------------------

def commands_section(commands: Sequence[tuple[str, Row, str]]) -> str:
  """'Re-make a row': for each (label, row, eval set name) the command that re-makes the row's
  number and where it lands."""
  if not commands:
    return ""
  lines = ["### Re-make a row", "",
           "Each row below is one config; its command alone re-makes the row's number "
           "(same seed, same machine: identical):", ""]
  for label, row, name in commands:
    where = (f"`{name}` → `psnr` in `eval_metrics.json` of the workdir"
             if row.command.startswith("python -m enhance_jax.train") else
             f"`{name}` → `psnr` in the output JSON")
    lines.append(f"- {label} ({where}):\n  `{row.command}`")
  return "\n".join(lines) + "\n"


def write_table(path: str | Path, title: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], notes: str = "", extra: str = "",
                commands: Sequence[tuple[str, Row, str]] = ()) -> Path:
  """Writes a markdown results file: title, the exact command, date, profile, the table, the
  command of each row, then `notes` and `extra` (more tables, figure links)."""
  from enhance_jax.training import logs
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  text = (f"# {title}\n\nGenerated by `{command()}` on {date} (profile `{profile()}`); each "
          "run's git commit, command line and package versions are in `run_info.json` of its "
          "workdir.\n\n"
          + (CPU_NOTE + "\n\n" if profile() == "cpu" else "")
          + markdown_table(columns, rows) + "\n"
          + (commands_section(commands) + "\n" if commands else "")
          + (notes.strip() + "\n\n" if notes else "") + (extra.strip() + "\n" if extra else ""))
  logs.write_text(path, text)
  print(f"wrote {path}", flush=True)
  return path


# --- Figures and curves from what the runs wrote -----------------------------------------------

def grid_cells(png: Path, rows: int, cols: int = 3) -> list[list]:
  """The cells of an evaluator image grid (`evaluation.write_grid`: rows of input | output |
  target, 4 px gaps) as HWC float arrays: the evaluator's own inputs and outputs."""
  from enhance_jax.data import imageio
  grid = imageio.to_float(imageio.read_image(str(png), channels=3))
  gap = 4
  h = (grid.shape[0] - (rows - 1) * gap) // rows
  w = (grid.shape[1] - (cols - 1) * gap) // cols
  return [[grid[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w]
           for j in range(cols)] for i in range(rows)]


def curve_rows(metrics_jsonl: Path, eval_set: str | None = None) -> list[dict]:
  """metrics.jsonl -> rows for `plots.plot_curves`: train rows with `psnr` and `mse` from the
  logged batch MSE `loss_mse`, and the eval rows of the set `eval_set` (all when None)."""
  out = []
  for r in read_jsonl(metrics_jsonl):
    r = dict(r)
    if r.get("split") == "train" and r.get("loss_mse", 0) > 0:
      r["mse"] = r["loss_mse"]
      r["psnr"] = -10.0 * math.log10(r["loss_mse"])
    elif r.get("split") == "eval" and eval_set is not None and r.get("name") != eval_set:
      continue
    out.append(r)
  return out


def write_jsonl(path: Path, rows: Sequence[dict]) -> Path:
  from enhance_jax.training import logs
  return logs.write_text(Path(path), "".join(json.dumps(r) + "\n" for r in rows))


def compact_png(path: Path) -> Path:
  """Re-saves a figure as a 256-colour PNG (photo grids are MBs in RGB)."""
  from PIL import Image
  with Image.open(path) as im:
    small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
  small.save(path, optimize=True)
  return path
