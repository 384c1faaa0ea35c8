"""Model-zoo cards: publish a finished training run of `--config=zoo/NAME:init=random` as
`zoo/NAME/` (weights, learning curve, scores, model card) and keep the index `zoo/README.md`.

Flag-free (the entry point is `experiments/zoo/publish.py`):

    from experiments.zoo import card
    card.publish("/work/runs/zoo_dncnn_s25", "dncnn_s25")   # -> zoo/dncnn_s25/
    card.write_index()                                        # -> zoo/README.md

Where the zoo is: `enhance_jax.configs.zoo._zoo.root()` ($ENHANCE_JAX_ZOO, else `zoo/` at the
root of the checkout). `zoo/NAME/` holds

  variables     the final parameters the config's evaluation uses (EMA or raw per
                `eval.use_ema`, with `batch_stats`), an Orbax directory (weights/variables.py)
  metrics.jsonl the training run's log (train and eval lines, `elapsed_s` wall seconds)
  curve.png     train loss vs step and vs wall minutes; benchmark PSNR vs wall minutes
  card.json     every number of the card, the commands, the machine
  README.md     the card

The card's scores are `api.evaluate` of the zoo config (`--config=zoo/NAME`, init=zoo) on
every evaluation set of the config, on the weights written to `variables`: what
`python -m enhance_jax.evaluate --config=zoo/NAME` prints. The whole folder is built beside
the zoo (`.NAME.tmp<pid>`) and renamed into place when complete; an existing card is replaced
only with `force`.
"""
from __future__ import annotations

import ast
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from experiments.tables import fmt, markdown_table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"
MINUTES = (10, 30, 60, 90)  # the card's "PSNR after N minutes of wall time" points

# What each zoo model is compared with on its benchmark (the first eval set). The numbers are
# read from the files named here, never written in this module:
#   published: the row (config, arg) of experiments/reproduce_pretrained.py's ROWS (the paper's
#              number and its citation);
#   imported:  the key of experiments/results/pretrained.json (the official weights, imported
#              and scored here);
#   classical: (label, results markdown, column header, row label prefix) of another method's
#              row in a study table made here: a classical method, or official weights that
#              the study scores (Zero-DCE's have no pretrained.json entry).
REFERENCES = {
    "dncnn_s25": dict(
        published=("dncnn_s25", ""), imported="dncnn_s25:",
        classical=("BM3D (ours, bm3d package)", "denoising_bsd68.md", "σ=25 PSNR (images)",
                   "BM3D")),
    "srcnn_x3": dict(published=("srcnn_955_x3", ""), imported="srcnn_955_x3:"),
    "lowlight_default": dict(
        classical=("histogram equalisation (ours)", "lowlight.md", "PSNR lol778",
                   "histogram equalisation")),
    "zerodce": dict(
        classical=("Zero-DCE, official weights (SICE), scored by the low-light study",
                   "lowlight.md", "PSNR lol778", "Zero-DCE (official weights)")),
}


# --- The run ----------------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict]:
  path = Path(path)
  if not path.is_file():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def elapsed_curve(rows: Sequence[dict], start_step: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(steps, wall seconds since the run began) of the train lines that carry `elapsed_s`.

  `elapsed_s` is the wall time of one process's training loop, so it restarts at a resume: a
  line whose `elapsed_s` is below the previous one begins a new segment, offset by the time
  of the segments before it. A step logged twice (redone after a resume) keeps its later time.
  The curve starts at (start_step, 0).
  """
  at, offset, prev = {start_step: 0.0}, 0.0, 0.0
  for r in rows:
    if r.get("split") != "train" or "elapsed_s" not in r:
      continue
    t = float(r["elapsed_s"])
    if t < prev:
      offset += prev
    prev = t
    at[int(r["step"])] = offset + t
  steps = np.array(sorted(at), dtype=np.float64)
  return steps, np.array([at[int(s)] for s in steps])


def time_points(steps: np.ndarray, seconds: np.ndarray, checkpoints: Sequence[int],
                minutes: Sequence[int] = MINUTES) -> list[dict]:
  """For each N in `minutes`: the last checkpoint whose step was reached within N minutes of
  wall time (its time interpolated between the logged lines), or `reached: False` when the run
  ended before N minutes (or no checkpoint was saved by then)."""
  run_min = float(seconds[-1]) / 60 if len(seconds) else 0.0
  ckpt_min = {s: float(np.interp(s, steps, seconds)) / 60 for s in checkpoints}
  out = []
  for n in minutes:
    inside = [s for s in checkpoints if ckpt_min[s] <= n]
    if run_min < n or not inside:
      why = (f"the run ended at {run_min:.1f} min" if run_min < n
             else f"no checkpoint within {n} min")
      out.append({"minutes": n, "reached": False, "why": why})
    else:
      s = max(inside)
      out.append({"minutes": n, "reached": True, "step": int(s),
                  "at_minutes": round(ckpt_min[s], 2)})
  return out


def checkpoint_steps(workdir: Path) -> list[int]:
  """The complete checkpoints' steps (Orbax renames a step folder into place when complete),
  read from the folder names only: nothing in a running trainer's workdir is touched."""
  folder = Path(workdir) / "checkpoints"
  return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()) if (
      folder.is_dir()) else []


def machine(run_info: dict, load_note: str) -> dict:
  """The machine of the card: CPUs and model (this machine: publish runs where the run ran),
  the run's devices, and the load during training when known."""
  model = ""
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.lower().startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  starts = run_info.get("starts", [])
  recorded = [s["load_average"] for s in starts if "load_average" in s]
  load = (f"recorded at the start(s): {recorded}" if recorded
          else "not recorded by the run")
  if load_note:
    load += f"; {load_note}"
  return {
      "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
      "cpu_model": model or platform.processor() or "unknown",
      "devices": starts[0].get("devices", {}) if starts else {},
      "load_during_training": load,
      "load_at_publish": [round(x, 2) for x in os.getloadavg()],
  }


def train_command(run_info: dict, name: str, spec_arg: str, workdir: Path,
                  overrides: dict) -> str:
  """The command of the run's first start (run_info.json argv), else the one that makes it."""
  starts = run_info.get("starts", [])
  if starts and starts[0].get("argv"):
    argv = list(starts[0]["argv"])
    head = ("python -m enhance_jax.train" if argv[0].endswith(os.path.join("enhance_jax", "train.py"))
            else f"python {shlex.quote(argv[0])}")
    return " ".join([head, *map(shlex.quote, argv[1:])])
  return " ".join(["python -m enhance_jax.train", f"--config=zoo/{name}:{spec_arg}",
                   *override_flags(overrides), f"--workdir={workdir}"])


def override_flags(overrides: dict) -> list[str]:
  return [shlex.quote(f"--config.{k}={_text(v)}") for k, v in overrides.items()]


def _text(value) -> str:
  if isinstance(value, (tuple, list)):
    return ",".join(map(str, value))
  return str(value)


def _arg(arg: str, init: str) -> str:
  parts = [p for p in (arg or "").split(",") if p.strip() and not p.strip().startswith("init=")]
  return ",".join(parts + [f"init={init}"])


def _display_arg(arg: str) -> str:
  """The config argument without init=zoo (the default)."""
  return ",".join(p for p in arg.split(",") if p != "init=zoo")


# --- What the card is compared with -----------------------------------------------------------

def published(config_name: str, arg: str) -> dict | None:
  """{psnr, source} of the paper for pretrained config (name, arg): the row of ROWS in
  experiments/reproduce_pretrained.py (parsed, not imported: that script defines flags)."""
  path = ROOT / "experiments" / "reproduce_pretrained.py"
  tree = ast.parse(path.read_text())
  for node in tree.body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ROWS" for t in node.targets):
      for row in ast.literal_eval(node.value):
        if (row[0], row[1]) == (config_name, arg):
          return {"psnr": row[4], "dataset": row[2], "condition": row[3], "source": row[5],
                  "file": "experiments/reproduce_pretrained.py"}
  return None


def imported(key: str) -> dict | None:
  """The official weights as imported and scored here: experiments/results/pretrained.json."""
  path = RESULTS / "pretrained.json"
  if not path.is_file():
    return None
  row = json.loads(path.read_text()).get(key)
  if not row or not row.get("result"):
    return None
  r = row["result"]
  return {"psnr": r["psnr"], "ssim": r.get("ssim"), "num_images": r["num_images"],
          "command": row.get("command", ""), "date": row.get("date", ""),
          "config": f"pretrained/{key.rstrip(':')}", "file": "experiments/results/pretrained.json"}


def classical(label: str, results_md: str, column: str, prefix: str) -> dict | None:
  """(psnr, images) of a classical method's row in a results markdown table: the cell of
  `column` in the row whose first cell starts with `prefix`, written as 'PSNR (images)' (the
  first `images` images of the set) or 'PSNR' (the whole set: images None)."""
  path = RESULTS / results_md
  if not path.is_file():
    return None
  header = None
  for line in path.read_text().splitlines():
    if not line.startswith("|"):
      header = None
      continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if header is None:
      header = cells
      continue
    if column in header and cells[0].startswith(prefix):
      m = re.fullmatch(r"([\d.]+)(?:\s*\((\d+)\))?", cells[header.index(column)])
      if m:
        return {"label": label, "psnr": float(m.group(1)),
                "num_images": int(m.group(2)) if m.group(2) else None,
                "file": f"experiments/results/{results_md}", "column": column}
  return None


def references(name: str) -> dict:
  ref = REFERENCES.get(name, {})
  out = {}
  if "published" in ref:
    out["published"] = published(*ref["published"])
  if "imported" in ref:
    out["imported"] = imported(ref["imported"])
  if "classical" in ref:
    out["classical"] = classical(*ref["classical"])
  return {k: v for k, v in out.items() if v is not None}


# --- Publishing -------------------------------------------------------------------------------

def zoo_root() -> Path:
  from enhance_jax.configs.zoo import _zoo
  return _zoo.root()


def _summary(result: dict) -> dict:
  keep = ("psnr", "ssim", "input_psnr", "input_ssim", "num_images", "dataset", "split", "protocol")
  out = {k: result[k] for k in keep if k in result}
  out["per_image"] = [{k: p[k] for k in ("name", "psnr", "ssim") if k in p}
                      for p in result.get("per_image", [])]
  return out


def _size(path: Path) -> int:
  return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _same(a: dict, b: dict) -> bool:
  import jax
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  return ta == tb and all(np.array_equal(x, y) and np.asarray(x).dtype == np.asarray(y).dtype
                          for x, y in zip(la, lb))


def publish(workdir: str | Path, name: str, arg: str = "", force: bool = False,
            load_note: str = "", command: str = "", minutes: Sequence[float] = MINUTES,
            cache: str | Path | None = None) -> Path:
  """Publishes the finished run in `workdir` (of `--config=zoo/<name>:<arg>,init=random`) as
  `<zoo>/<name>/`; returns that folder. Raises FileExistsError when it exists and not `force`
  (nothing is read or written then), ValueError / FileNotFoundError for a workdir that is not
  a finished run of that config. `minutes`: the after-N-minutes points of the card. `cache`:
  a folder where each scoring is kept and reused (`_cached`)."""
  from enhance_jax import api
  from enhance_jax import config as config_lib
  from enhance_jax.training import components
  from enhance_jax.weights import variables as variables_io

  root = zoo_root()
  final = root / name
  if final.exists() and not force:
    raise FileExistsError(f"{final}: zoo model {name!r} is published already; pass --force to "
                          "replace it.")
  workdir = Path(workdir).resolve()
  saved = config_lib.load_run_config(workdir)
  if saved is None:
    raise FileNotFoundError(f"{workdir}/config.json: not found; --workdir must be the workdir of "
                            f"a finished `python -m enhance_jax.train --config=zoo/{name}:"
                            "init=random` run.")
  random_arg, zoo_arg = _arg(arg, "random"), _arg(arg, "zoo")
  shipped = config_lib.load_config(f"zoo/{name}", random_arg)
  flat = config_lib.flatten(saved)
  differs = config_lib.diff(shipped, saved)
  filled = [k for k in differs if k not in flat and any(j.startswith(k + ".") for j in flat)]
  differs = [k for k in differs if k not in filled]  # an empty section the run filled: its keys
  lost = [k for k in differs if k not in flat]
  if lost:
    raise ValueError(f"{workdir}/config.json lacks keys of zoo/{name}:{random_arg} "
                     f"({', '.join(lost[:5])}): train it again with the shipped config.")
  overrides = {k: flat[k] for k in differs}  # the run's --config.KEY=V (none for a card run)
  config = config_lib.load_config(f"zoo/{name}", zoo_arg, overrides)
  left = [k for k in config_lib.diff(config, saved) if k != "init_checkpoint"]
  if left:
    raise ValueError(f"{workdir}: the run's config differs from zoo/{name}:{zoo_arg} in "
                     f"{', '.join(left[:5])}.")
  num_steps = int(config.train.num_steps)
  ckpt_steps = checkpoint_steps(workdir)
  if num_steps not in ckpt_steps:
    last = ckpt_steps[-1] if ckpt_steps else None
    raise ValueError(f"{workdir}: the run is not finished (last checkpoint: step {last} of "
                     f"{num_steps}); run its training command again to finish it.")
  rows = read_jsonl(workdir / "metrics.jsonl")
  run_info = json.loads((workdir / "run_info.json").read_text()) if (
      workdir / "run_info.json").is_file() else {}
  start_step = int(run_info.get("starts", [{}])[0].get("start_step", 0)) if run_info else 0
  steps, seconds = elapsed_curve(rows, start_step)
  if len(steps) < 2:
    raise ValueError(f"{workdir}/metrics.jsonl: no train line with elapsed_s; the card needs the "
                     "wall time (trained by a version that logs elapsed_s).")
  bench = next(iter(config.evals.keys()))

  root.mkdir(parents=True, exist_ok=True)
  tmp = root / f".{name}.tmp{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  scratch = Path(tempfile.mkdtemp(prefix=f"zoo_{name}_"))
  try:
    model = components.model(config)
    variables, where = components.load_inference_variables(config, model, str(workdir),
                                                           use_ema=config.eval.use_ema)
    variables_io.save_variables(tmp / "variables", variables)
    if not _same(variables_io.load_variables(tmp / "variables"), variables):
      raise OSError(f"{tmp / 'variables'}: the written weights do not read back identically.")

    def score(weights: Path, v: dict, evals=None) -> dict:
      c = config_lib.load_config(f"zoo/{name}", zoo_arg,
                                 {**overrides, "init_checkpoint": str(weights)})
      return _cached(cache, c, v, evals, lambda: api.evaluate(c, evals=evals))

    results = score(tmp / "variables", variables)
    points = time_points(steps, seconds, ckpt_steps, minutes)
    by_step = {num_steps: results[bench]}
    for p in points:
      if p["reached"] and p["step"] not in by_step:
        v, _ = components.load_inference_variables(config, model, str(workdir),
                                                   use_ema=config.eval.use_ema, step=p["step"])
        path = variables_io.save_variables(scratch / str(p["step"]), v)
        by_step[p["step"]] = score(path, v, [bench])[bench]
      if p["reached"]:
        p["psnr"] = by_step[p["step"]]["psnr"]
        p["ssim"] = by_step[p["step"]]["ssim"]

    shutil.copyfile(workdir / "metrics.jsonl", tmp / "metrics.jsonl")
    refs = references(name)
    on_subset = on_classical_images(refs, results[bench]["per_image"])
    import jax
    params = int(sum(np.size(x) for x in jax.tree.leaves(variables["params"])))
    spec_arg = _display_arg(zoo_arg)
    spec = f"zoo/{name}" + (f":{spec_arg}" if spec_arg else "")
    flags_ = override_flags(overrides)
    card = {
        "name": name,
        "description": _first_line(_config_doc(name)),
        "config": f"enhance_jax/configs/zoo/{name}.py",
        "arg": spec_arg,
        "overrides": overrides,
        "task": config.data.degrade or config.data.name,
        "model": {"name": config.model.name, "kwargs": dict(config.model.kwargs.to_dict()),
                  "params": params, "weights_from": where,
                  "parameters_used": "EMA" if "(EMA" in where else "raw",
                  "weights_bytes": _size(tmp / "variables")},
        "data": {"train": f"{config.data.name}/{config.data.train_split}",
                 "patch_size": int(config.data.patch_size),
                 "degradation": config.data.degrade,
                 "eval_sets": {k: f"{results[k]['dataset']}/{results[k]['split']}"
                               for k in results}},
        "train": {"steps": num_steps, "batch_size": int(config.train.batch_size),
                  "checkpoint_every": int(config.train.checkpoint_every),
                  "wall_seconds": round(float(seconds[-1]), 1),
                  "wall_time_note": "the training loop: elapsed_s of the last train line; the "
                                    "start-up before it and the final evaluation excluded",
                  "starts": len(run_info.get("starts", [])),
                  "git_commit": (run_info.get("starts") or [{}])[0].get("git_commit", ""),
                  "versions": (run_info.get("starts") or [{}])[0].get("versions", {})},
        "machine": machine(run_info, load_note),
        "benchmark": bench,
        "results": {k: _summary(v) for k, v in results.items()},
        "after_minutes": points,
        "references": refs,
        "on_classical_images": on_subset,
        "commands": {
            "train": train_command(run_info, name, random_arg, workdir, overrides),
            "publish": command or " ".join(
                ["python experiments/zoo/publish.py", f"--workdir={workdir}", f"--name={name}"]
                + ([f"--arg={shlex.quote(arg)}"] if arg else [])),
            "evaluate": " ".join(["python -m enhance_jax.evaluate", f"--config={spec}",
                                  *flags_]),
            "enhance": " ".join(["python -m enhance_jax.enhance", f"--config={spec}", *flags_,
                                 "--input=IN.png", "--output=OUT.png"]),
        },
        "published_at": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
    }
    plot_curve(rows, steps, seconds, card, tmp / "curve.png")
    _write(tmp / "card.json", json.dumps(card, indent=2) + "\n")
    _write(tmp / "README.md", render_card(card))
    _swap(tmp, final)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
  write_index(root)
  return final


def on_classical_images(refs: dict, per_image: Sequence[dict]) -> dict | None:
  """This model's mean PSNR/SSIM on the images the classical reference ran on (its first N
  images, `max_eval_images=N`: the first N file names in sorted order), or None when the
  reference covers the whole set. The evaluation lists images grouped by shape, not in file
  order, so the first N entries of `per_image` are not those images."""
  n = refs.get("classical", {}).get("num_images")
  if not n:
    return None
  per = sorted(per_image, key=lambda p: p["name"])[:n]
  return {"num_images": n, "names": [p["name"] for p in per],
          "psnr": float(np.mean([p["psnr"] for p in per])),
          "ssim": float(np.mean([p["ssim"] for p in per]))}


def refresh(name: str) -> Path:
  """Re-reads the references of published card `name` and recomputes what is derived from
  card.json (its comparison rows), then rewrites card.json, README.md and the index; the
  scores and weights are not touched. For a card whose run directory is gone."""
  folder = zoo_root() / name
  card = json.loads((folder / "card.json").read_text())
  card["references"] = references(name)
  card["on_classical_images"] = on_classical_images(
      card["references"], card["results"][card["benchmark"]]["per_image"])
  _write(folder / "card.json", json.dumps(card, indent=2) + "\n")
  _write(folder / "README.md", render_card(card))
  write_index(zoo_root())
  return folder


def _cached(cache: str | Path | None, config, variables: dict, evals, compute) -> dict:
  """`compute()` (api.evaluate of `config` on `variables`), or its result kept in `cache` for
  the same weights (their bytes) and the same config but init_checkpoint (the JSON text): a
  publish that is re-run (--force, or after a failure) does not score a checkpoint twice."""
  if cache is None:
    return compute()
  import hashlib
  import jax
  h = hashlib.sha256()
  c = config.copy_and_resolve_references()
  c.init_checkpoint = ""
  h.update(c.to_json_best_effort(sort_keys=True).encode())
  h.update(json.dumps(sorted(evals) if evals else None).encode())
  for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
    h.update(jax.tree_util.keystr(path).encode())
    h.update(np.ascontiguousarray(leaf).tobytes())
  path = Path(cache) / f"{h.hexdigest()[:24]}.json"
  if path.is_file():
    return json.loads(path.read_text())
  result = compute()
  _write(path, json.dumps(result) + "\n")
  return result


def _write(path: Path, text: str) -> None:
  from enhance_jax.training import logs
  logs.write_text(path, text)


def _swap(tmp: Path, final: Path) -> None:
  """Renames the complete folder `tmp` to `final`, an old `final` moved aside first and
  deleted after."""
  old = final.with_name(f".{final.name}.old{os.getpid()}")
  if final.exists():
    os.replace(final, old)
  os.replace(tmp, final)
  shutil.rmtree(old, ignore_errors=True)


def _config_doc(name: str) -> str:
  from enhance_jax import config as config_lib
  path = config_lib.SHIPPED_DIR / "zoo" / f"{name}.py"
  try:
    return ast.get_docstring(ast.parse(path.read_text())) or ""
  except (OSError, SyntaxError):
    return ""


def _first_line(text: str) -> str:
  return text.strip().splitlines()[0].strip() if text and text.strip() else ""


# --- The card and the index -------------------------------------------------------------------

def _duration(seconds: float) -> str:
  """'66 min', or '18 s' under a minute."""
  return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def render_card(card: dict) -> str:
  """The card (README.md) from card.json."""
  name, bench = card["name"], card["benchmark"]
  res, m, t, mach = card["results"], card["model"], card["train"], card["machine"]
  cmd = card["commands"]
  b = res[bench]
  sets = list(res)
  second = f" and {', '.join(sets[1:])}" if len(sets) > 1 else ""
  lines = [f"# Zoo: {name}", "", card["description"], ""]
  if card["overrides"]:
    lines += [f"**Trained with overrides of the shipped config** ({', '.join(card['overrides'])});"
              " every command below carries them.", ""]
  devices = mach.get("devices", {})
  lines += [markdown_table(["", ""], [
      ["config", f"`{card['config']}` (`--config=zoo/{name}`; training: `:init=random`)"],
      ["model", f"`{m['name']}` {json.dumps(m['kwargs'])}: {m['params']:,} parameters"],
      ["weights", f"`variables` ({m['weights_bytes'] / 1e6:.2f} MB, Orbax): the "
                  f"{m['parameters_used']} parameters (and batch statistics) of the run's "
                  f"checkpoint {t['steps']}"],
      ["task", f"`{card['task']}`"],
      ["data", f"train `{card['data']['train']}` ({card['data']['patch_size']}x"
               f"{card['data']['patch_size']} patches); scored on "
               + ", ".join(f"{k} (`{v}`)" for k, v in card["data"]["eval_sets"].items())],
      ["steps, batch", f"{t['steps']:,} steps of batch {t['batch_size']}"],
      ["wall time", f"{t['wall_seconds'] / 60:.1f} min ({t['wall_time_note']}; "
                    f"started {t['starts']} time(s))"],
      ["machine", f"{mach['nproc']} CPU cores ({mach['cpu_model']}), JAX "
                  f"{devices.get('platform', '?')} x {devices.get('count', '?')}; load during "
                  f"training: {mach['load_during_training']}"],
      ["code", f"git {t['git_commit'][:12] or '?'}, jax {t['versions'].get('jax', '?')}, "
               f"flax {t['versions'].get('flax', '?')}"],
  ]).rstrip(), ""]
  lines += ["## Commands", "", "```sh",
            f"# train (the run of this card)", cmd["train"],
            f"# publish this card from the finished run", cmd["publish"],
            f"# score the zoo weights on {bench}{second} (prints the numbers below)", cmd["evaluate"],
            "# apply them", cmd["enhance"], "```", ""]
  lines += ["## Scores", "",
            f"`{cmd['evaluate']}`:", "",
            markdown_table(["set", "images", "PSNR", "SSIM", "input PSNR", "input SSIM"],
                   [[f"{k} (`{v['dataset']}/{v['split']}`)", v["num_images"],
                     fmt(v["psnr"]), fmt(v.get("ssim"), 4), fmt(v.get("input_psnr")),
                     fmt(v.get("input_ssim"), 4)] for k, v in res.items()]).rstrip(), ""]
  rows = []
  for p in card["after_minutes"]:
    if p["reached"]:
      rows.append([f"{fmt(p['minutes'])} min", p["step"], fmt(p["at_minutes"], 1), fmt(p["psnr"]),
                   fmt(p["ssim"], 4)])
    else:
      rows.append([f"{fmt(p['minutes'])} min", "–", "–", "not reached", f"({p['why']})"])
  lines += ["## Quality per CPU time", "",
            f"{bench} PSNR of the last checkpoint saved within N minutes of the training loop's "
            "wall time (the step's time interpolated between logged lines; checkpoints every "
            f"{t['checkpoint_every']} steps), scored like the final model:", "",
            markdown_table(["after", "step", "at minute", "PSNR", "SSIM"], rows).rstrip(), ""]
  refs = card["references"]
  crow = [[f"this model (zoo/{name}, {_duration(t['wall_seconds'])} on {mach['nproc']} CPU "
           "cores)", b["num_images"], fmt(b["psnr"]), fmt(b.get("ssim"), 4), "card.json"]]
  if "published" in refs:
    p = refs["published"]
    crow.append([f"published ({p['source']}; {p['dataset']} {p['condition']})", "all", fmt(p["psnr"]),
                 "–", f"`{p['file']}`"])
  if "imported" in refs:
    p = refs["imported"]
    crow.append([f"official weights, imported (`{p['config']}`)", p["num_images"], fmt(p["psnr"]),
                 fmt(p.get("ssim"), 4), f"`{p['file']}` ({p['date']})"])
  if "classical" in refs:
    p, mine = refs["classical"], card["on_classical_images"]
    crow.append([f"{p['label']}", p["num_images"] or b["num_images"], fmt(p["psnr"]), "–",
                 f"`{p['file']}` ({p['column']})"])
    if mine:
      crow.append([f"this model on the same {mine['num_images']} images", mine["num_images"],
                   fmt(mine["psnr"]), fmt(mine["ssim"], 4), "card.json (per_image)"])
  lines += [f"## Comparison on {bench}", "",
            markdown_table(["model", "images", "PSNR", "SSIM", "number from"], crow).rstrip(), ""]
  if card["on_classical_images"]:
    lines += [f"{refs['classical']['label']} ran on the first {refs['classical']['num_images']} "
              "images only; compare it with this model's row on the same images, not with the "
              "full-set means.", ""]
  lines += ["## Learning curve", "", "![training loss and benchmark PSNR](curve.png)", "",
            f"`metrics.jsonl` is the run's log (`elapsed_s`: wall seconds of the training loop). "
            f"Published {card['published_at']}.", ""]
  return "\n".join(lines)


def plot_curve(rows: Sequence[dict], steps: np.ndarray, seconds: np.ndarray, card: dict,
               out_png: Path) -> Path:
  """Train loss vs step (top axis: wall minutes) and benchmark PSNR vs wall minutes (the
  after-N-minutes checkpoints and the final model; the references as lines)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  train = [r for r in rows if r.get("split") == "train" and "loss" in r]
  fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
  xs = np.array([r["step"] for r in train], dtype=np.float64)
  a.plot(xs, [r["loss"] for r in train], lw=1)
  a.set_yscale("log")
  a.set_xlabel("step")
  a.set_ylabel("train loss")
  a.grid(alpha=0.3)
  mins = seconds / 60
  top = a.secondary_xaxis("top", functions=(lambda s: np.interp(s, steps, mins),
                                            lambda mn: np.interp(mn, mins, steps)))
  top.set_xlabel("wall minutes")
  bench = card["benchmark"]
  pts = [(p["at_minutes"], p["psnr"]) for p in card["after_minutes"] if p["reached"]]
  final = (card["train"]["wall_seconds"] / 60, card["results"][bench]["psnr"])
  pts = sorted(set(pts + [final]))
  b.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="this model (checkpoints)")
  refs = card["references"]
  for key, style in (("published", ":"), ("imported", "--")):
    if key in refs:
      b.axhline(refs[key]["psnr"], ls=style, color="gray" if key == "published" else "k",
                label=f"{key} ({refs[key]['psnr']:.2f})")
  b.set_xlabel("wall minutes of training")
  b.set_ylabel(f"{bench} PSNR (dB)")
  b.grid(alpha=0.3)
  b.legend(fontsize=8, loc="lower right")
  fig.suptitle(f"zoo/{card['name']}", fontsize=10)
  fig.tight_layout()
  out_png = Path(out_png)
  out_png.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(out_png, dpi=90)
  plt.close(fig)
  return out_png


def cards(root: Path | None = None) -> list[dict]:
  """card.json of every published zoo model, by name."""
  root = Path(root) if root else zoo_root()
  return [json.loads(p.read_text()) for p in sorted(root.glob("*/card.json"))]


def write_index(root: Path | None = None) -> Path:
  """zoo/README.md: one row per published model, from the cards."""
  root = Path(root) if root else zoo_root()
  from enhance_jax import config as config_lib
  rows, published_ = [], set()
  for c in cards(root):
    published_.add(c["name"])
    b = c["results"][c["benchmark"]]
    rows.append([f"[{c['name']}]({c['name']}/README.md)", f"`{c['task']}`",
                 f"{c['model']['params']:,}",
                 f"{c['benchmark']}: {b['psnr']:.2f} dB ({b['num_images']} images)",
                 f"{_duration(c['train']['wall_seconds'])}, {c['machine']['nproc']} CPU cores",
                 f"`--config=zoo/{c['name']}`"])
  for name in sorted(n[len("zoo/"):] for n in config_lib.shipped_configs()
                     if n.startswith("zoo/") and n[len("zoo/"):] not in published_):
    rows.append([name, "–", "–", "not published yet", "–", f"`--config=zoo/{name}`"])
  text = ("# Model zoo\n\n"
          "Models trained by this codebase, each with its card (`NAME/README.md`: config and "
          "exact commands, data, steps, batch, wall time and machine, learning curve, PSNR/SSIM, "
          "comparison with the published and the imported numbers) and its weights "
          "(`NAME/variables`). `python -m enhance_jax.evaluate --config=zoo/NAME` re-scores one "
          "(the card's numbers); `python -m enhance_jax.enhance --config=zoo/NAME --input=IN "
          "--output=OUT` applies it. Configs: `enhance_jax/configs/zoo/`; a card is written by "
          "`python experiments/zoo/publish.py --workdir=W --name=NAME` from a finished run of "
          "`--config=zoo/NAME:init=random`.\n\n"
          + (markdown_table(["model", "task", "parameters", "benchmark PSNR", "wall time", "config"],
                    rows) if rows else "No zoo config yet.\n"))
  root.mkdir(parents=True, exist_ok=True)
  _write(root / "README.md", text)
  return root / "README.md"
