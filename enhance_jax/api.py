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
             split: str | None = None) -> dict:
  """Scores `config`'s eval split with its protocol and writes the outputs.

  Weights: the latest checkpoint in `workdir` (EMA parameters when
  `config.eval.use_ema` and present), else `config.init_checkpoint`; a
  classical baseline config (`config.baseline.name` set) needs none. Writes
  eval_metrics.json and eval_grid.png into `workdir` (or beside `output_json`
  when there is no workdir) and `output_json` when given. Returns the summary
  dict (psnr, ssim, input_psnr, input_ssim, num_images, per-image values).
  """
  import jax
  from enhance_jax import models
  from enhance_jax.data import pipeline
  from enhance_jax.training import components, evaluation, logs
  from enhance_jax.training import mesh as mesh_lib

  baseline = config.get("baseline", {}).get("name", "") if "baseline" in config else ""
  # A baseline runs on the host inside the eval step: one device, so no collective
  # waits on a slow host callback.
  mesh = mesh_lib.make_mesh(jax.local_devices()[:1] if baseline else None)
  split = split or config.data.eval_split
  source = components.source(config, split)
  batches = pipeline.eval_batches(source, config.data, config.eval.get("batch_size", 1),
                                  mesh_lib.data_size(mesh), config.eval.seed)
  if baseline:
    from enhance_jax.baselines import as_model
    model, variables, where = as_model(config), {}, f"baseline {baseline}"
  else:
    model = components.model(config)
    variables, where = components.load_inference_variables(config, model, workdir,
                                                           use_ema=config.eval.use_ema)
    variables = mesh_lib.replicate(variables, mesh)
  eval_fn = evaluation.make_eval_fn(model, components.degrade(config), components.protocol(config),
                                    models.extra_inputs(model), mesh)
  summary, per_image, samples = evaluation.evaluate(eval_fn, variables, batches, mesh,
                                                    config.eval.seed,
                                                    keep_images=config.eval.grid_images,
                                                    ssim_threshold=float(
                                                        config.eval.get("ssim_threshold", 0.0)))
  result = {**summary, "split": split, "weights": where,
            "protocol": dict(config.eval.to_dict()), "per_image": per_image}
  outdir = Path(workdir) if workdir else (Path(output_json).resolve().parent if output_json else None)
  if jax.process_index() == 0:
    if outdir is not None:
      outdir.mkdir(parents=True, exist_ok=True)
      logs.write_json(outdir / "eval_metrics.json", result)
      evaluation.write_grid(outdir / "eval_grid.png", samples)
    if output_json:
      logs.write_json(Path(output_json), result)
    print(f"{config.model.name if not baseline else baseline} on {config.data.name}/{split} "
          f"({summary['num_images']} images, weights: {where}):")
    for k in ("psnr", "ssim", "input_psnr", "input_ssim"):
      if k in summary:
        print(f"  {k:<11} {summary[k]:.4f}")
    if outdir is not None:
      print(f"  wrote {outdir / 'eval_metrics.json'} and {outdir / 'eval_grid.png'}")
  return result
