"""The in-process library API: load a config, train it, evaluate it, apply it.

For scripts, notebooks and the study drivers in `experiments/`. Defines no absl
flags (the entry points `python -m enhance_jax.{train,evaluate,enhance}` are
thin wrappers over these functions):

    from enhance_jax import api
    config = api.load_config("denoise/dncnn", "profile=cpu", {"train.num_steps": 20})
    summary = api.train(config, "runs/dncnn")
    result = api.evaluate(config, workdir="runs/dncnn")
"""
from __future__ import annotations

from pathlib import Path

from enhance_jax.config import load_config  # noqa: F401  (re-exported)


def train(config, workdir: str | Path, devices=None) -> dict:
  """Trains `config` in `workdir` (resuming from its checkpoints); returns the
  final evaluation summary. See `training.loop.train_and_evaluate`."""
  from enhance_jax.training import loop
  return loop.train_and_evaluate(config, str(workdir), devices=devices)


def evaluate(config, workdir: str | None = None, output_json: str | None = None,
             split: str | None = None, evals: list[str] | None = None,
             output_dir: str | None = None) -> dict:
  """Scores `config`'s evaluation sets, each with its own data and protocol,
  and writes the outputs.

  Sets: every entry of `config.evals` (or those named in `evals`; an unknown
  name is a ValueError listing the known ones), or the one set "eval" (the
  config's `data.eval_split`) when `config.evals` is empty; `split` replaces
  each set's eval split. Weights: the latest checkpoint in `workdir` (EMA
  parameters when `config.eval.use_ema` and present), else
  `config.init_checkpoint`; a classical baseline config (`config.baseline.name`
  set) needs none. After scoring every set, writes each set's
  eval_metrics.json ({name: result}) and eval_grid.png into its own folder
  `<output_dir>/<name>/` (default output_dir: `<workdir>/eval`), never over the
  training run's files; with neither, only `output_json` and its grids
  `<output_json stem>_grid[_<name>].png` beside it. `output_json` (all sets)
  when given.

  Returns {set name: result}; a result holds the summary (psnr, ssim,
  input_psnr, input_ssim, num_images, ...) and dataset, split, weights,
  protocol and per_image. Progress (per image, with ETA) goes to stderr: lines on a
  terminal, else one summary line per set (`logs.Ticker`).
  """
  import jax
  from enhance_jax.training import components, evaluation, logs
  from enhance_jax.training import mesh as mesh_lib

  from enhance_jax import config as config_lib
  config_lib.check(config)
  sets = evaluation.set_configs(config, evals, split)
  baseline = config.baseline.name
  # A baseline runs on the host inside the eval step: one device, so no collective
  # waits on a slow host callback.
  mesh = mesh_lib.make_mesh(jax.local_devices()[:1] if baseline else None)
  if baseline:
    from enhance_jax.baselines import as_model
    model, variables, where = as_model(config), {}, f"baseline {baseline}"
  else:
    model = components.model(config)
    variables, where = components.load_inference_variables(config, model, workdir,
                                                           use_ema=config.eval.use_ema)
    variables = mesh_lib.replicate(variables, mesh)
  results, grids = {}, []
  for name, c in sets.items():
    es = evaluation.EvalSet(name, c, model, mesh)
    summary, per_image, samples = es.run(variables, progress=True)
    results[name] = {**summary, "dataset": c.data.name, "split": es.split, "weights": where,
                     "protocol": dict(c.eval.to_dict()), "per_image": per_image}
    grids.append((name, samples))
  base = Path(output_dir) if output_dir else (Path(workdir) / "eval" if workdir else None)
  written = []
  if jax.process_index() == 0:
    for name, grid_samples in grids:
      if base is not None:
        folder = base / name
        written.append(logs.write_json(folder / "eval_metrics.json", {name: results[name]}))
        if grid_samples:
          written.append(evaluation.write_grid(folder / "eval_grid.png", grid_samples))
      elif output_json and grid_samples:
        stem = Path(output_json)
        grid = stem.with_name(f"{stem.stem}_grid" + (
            "" if name == evaluation.IMPLICIT else f"_{name}") + ".png")
        written.append(evaluation.write_grid(grid, grid_samples))
    if output_json:
      written.append(logs.write_json(Path(output_json), results))
    label = baseline or config.model.name
    for name, r in results.items():
      named = "" if name == evaluation.IMPLICIT else f" [{name}]"
      print(f"{label} on {r['dataset']}/{r['split']}{named} ({r['num_images']} images, "
            f"weights: {where}):")
      for k in ("psnr", "ssim", "input_psnr", "input_ssim"):
        if k in r:
          print(f"  {k:<11} {r[k]:.4f}")
    if written:
      print(f"  wrote {', '.join(map(str, written))}")
  return results
