"""Evaluate a model: `python -m enhance_jax.evaluate --config=FILE [--workdir=DIR] [--output_json=F]`.

The config is --config when given, else the one training saved in --workdir.
Uses the latest checkpoint in --workdir (EMA parameters when present), or
`config.init_checkpoint` (imported official weights), or — for a classical
baseline config (`config.baseline.name` set) — no weights at all. Scores the
config's eval split with its protocol and writes eval_metrics.json (psnr, ssim,
input_psnr, input_ssim, num_images, per-image values) and eval_grid.png into
the workdir (or beside --output_json when there is no workdir).
"""
from __future__ import annotations

from pathlib import Path

from absl import app, flags, logging

from enhance_jax import config as config_lib
from enhance_jax import distributed

_CONFIG = config_lib.define_config_flag("Config file (get_config()).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/.")
_OUTPUT_JSON = flags.DEFINE_string("output_json", None, "Also write the metrics JSON here.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default config.data.eval_split).")


def run(config, workdir: str | None, output_json: str | None, split: str | None = None) -> dict:
  """Evaluates and writes the outputs; returns the summary dict."""
  import jax
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
  from enhance_jax import models
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  distributed.initialize()
  try:
    config = config_lib.resolve(_CONFIG, _WORKDIR.value)
    run(config, _WORKDIR.value, _OUTPUT_JSON.value, _SPLIT.value)
  except (ValueError, KeyError, FileNotFoundError, OSError) as e:
    distributed.exit_with_error(e)


if __name__ == "__main__":
  app.run(main)
