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
             split: str | None = None, evals: list[str] | None = None) -> dict:
  """Scores `config`'s evaluation sets, each with its own data and protocol,
  and writes the outputs.

  Sets: every entry of `config.evals` (or those named in `evals`; an unknown
  name is a ValueError listing the known ones), or the one set "eval" (the
  config's `data.eval_split`) when `config.evals` is empty; `split` replaces
  each set's eval split. Weights: the latest checkpoint in `workdir` (EMA
  parameters when `config.eval.use_ema` and present), else
  `config.init_checkpoint`; a classical baseline config (`config.baseline.name`
  set) needs none. After scoring every set, writes eval_metrics.json (the
  scored sets' entries replace theirs, others are kept) and each set's
  eval_grid[_<name>].png into `workdir` (or beside `output_json` when there is
  no workdir), and `output_json` when given.

  Returns {set name: result}; a result holds the summary (psnr, ssim,
  input_psnr, input_ssim, num_images, ...) and dataset, split, weights,
  protocol and per_image.
  """
  import json

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
    summary, per_image, samples = es.run(variables)
    results[name] = {**summary, "dataset": c.data.name, "split": es.split, "weights": where,
                     "protocol": dict(c.eval.to_dict()), "per_image": per_image}
    grids.append((es.grid_name, samples))
  outdir = Path(workdir) if workdir else (Path(output_json).resolve().parent if output_json else None)
  if jax.process_index() == 0:
    if outdir is not None:
      outdir.mkdir(parents=True, exist_ok=True)
      path = outdir / "eval_metrics.json"
      previous = json.loads(path.read_text()) if path.is_file() else {}
      keep = previous if all(isinstance(v, dict) for v in previous.values()) else {}
      logs.write_json(path, {**keep, **results})
      for grid_name, samples in grids:
        evaluation.write_grid(outdir / grid_name, samples)
    if output_json:
      logs.write_json(Path(output_json), results)
    label = baseline or config.model.name
    for name, r in results.items():
      named = "" if name == evaluation.IMPLICIT else f" [{name}]"
      print(f"{label} on {r['dataset']}/{r['split']}{named} ({r['num_images']} images, "
            f"weights: {where}):")
      for k in ("psnr", "ssim", "input_psnr", "input_ssim"):
        if k in r:
          print(f"  {k:<11} {r[k]:.4f}")
    if outdir is not None:
      print(f"  wrote {outdir / 'eval_metrics.json'} and "
            f"{', '.join(str(outdir / g) for g, _ in grids)}")
  return results
