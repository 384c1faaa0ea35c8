"""Re-scores the imported official models and writes experiments/results/pretrained.md.

  python experiments/reproduce_pretrained.py                      # all rows
  python experiments/reproduce_pretrained.py --only=dncnn_s25,ffdnet_gray:sigma=25 --max_images=10

For every row it imports the weights if `init_checkpoint` is missing (what
`python -m enhance_jax.import_weights` does), then scores the shipped config
enhance_jax/configs/pretrained/<name>.py through `enhance_jax.api.evaluate`, in-process:
the same as

  python -m enhance_jax.evaluate --config=pretrained/<name>:<arg> --output_json=<file>

(in-graph degradation with a key per image, the config's PSNR/SSIM protocol).
Each finished row is kept in `<results>/pretrained.json` (with its image count and the
command that made it) and the table is rewritten after every row, so an interrupted run
keeps its rows and a rerun skips them (pass `--rerun_done` to score again).
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from absl import flags, logging  # noqa: E402

from experiments import common  # noqa: E402
from enhance_jax.training import logs  # noqa: E402

REPO = common.ROOT
FLAGS = flags.FLAGS
flags.DEFINE_string("only", "", "Comma-separated config names or name:arg rows to run "
                    "(default: all rows).")
flags.DEFINE_bool("rerun_done", False, "Score rows already in <results>/pretrained.json again.")
flags.DEFINE_integer("max_images", 0, "Score only the first N images per set (0 = all).")
flags.DEFINE_string("weights_dir", None, "Imported variables (default: $ENHANCE_JAX_WEIGHTS or "
                    "<repo>/weights).")

# (config, arg, set, condition, published PSNR, source of the published number)
ROWS = [
    ("dncnn_s15", "", "BSD68", "σ=15", 31.73, "cszn/DnCNN README"),
    ("dncnn_s25", "", "BSD68", "σ=25", 29.23, "cszn/DnCNN README"),
    ("dncnn_s50", "", "BSD68", "σ=50", 26.23, "cszn/DnCNN README"),
    ("dncnn_b", "sigma=15", "BSD68", "σ=15", 31.61, "cszn/DnCNN README"),
    ("dncnn_b", "sigma=25", "BSD68", "σ=25", 29.16, "cszn/DnCNN README"),
    ("dncnn_b", "sigma=50", "BSD68", "σ=50", 26.23, "cszn/DnCNN README"),
    ("ffdnet_gray", "sigma=15", "BSD68", "σ=15", 31.63, "cszn/FFDNet table1"),
    ("ffdnet_gray", "sigma=25", "BSD68", "σ=25", 29.19, "cszn/FFDNet table1"),
    ("ffdnet_gray", "sigma=50", "BSD68", "σ=50", 26.29, "cszn/FFDNet table1"),
    ("ffdnet_color", "sigma=15", "CBSD68", "σ=15", 33.87, "cszn/FFDNet table2"),
    ("ffdnet_color", "sigma=25", "CBSD68", "σ=25", 31.21, "cszn/FFDNet table2"),
    ("ffdnet_color", "sigma=50", "CBSD68", "σ=50", 27.96, "cszn/FFDNet table2"),
    ("cdncnn_b", "sigma=15", "CBSD68", "σ=15", 33.89, "cszn/FFDNet table2 (CDnCNN)"),
    ("cdncnn_b", "sigma=25", "CBSD68", "σ=25", 31.23, "cszn/FFDNet table2 (CDnCNN)"),
    ("cdncnn_b", "sigma=50", "CBSD68", "σ=50", 27.92, "cszn/FFDNet table2 (CDnCNN)"),
    ("srcnn_955_x2", "", "Set5 (Y)", "x2", 36.66, "SRCNN TPAMI 2016"),
    ("srcnn_955_x3", "", "Set5 (Y)", "x3", 32.75, "SRCNN TPAMI 2016"),
    ("srcnn_955_x4", "", "Set5 (Y)", "x4", 30.49, "SRCNN TPAMI 2016"),
]


def _score_evaluate(name: str, arg: str, checkpoint: Path) -> dict:
  """`python -m enhance_jax.evaluate --config=pretrained/NAME:ARG`, in-process (api.evaluate)."""
  from enhance_jax import api  # pylint: disable=g-import-not-at-top
  overrides = {"init_checkpoint": str(checkpoint)}
  if FLAGS.max_images:
    overrides["data.max_eval_images"] = FLAGS.max_images
  config = api.load_config(f"pretrained/{name}", arg or None, overrides)
  results = api.evaluate(config)
  return next(iter(results.values()))


def main():
  logging.set_verbosity(logging.WARNING)
  weights_dir = Path(FLAGS.weights_dir or os.environ.get("ENHANCE_JAX_WEIGHTS", REPO / "weights"))
  only = {s.strip() for s in FLAGS.only.split(",") if s.strip()}
  rows = [r for r in ROWS if not only or r[0] in only or f"{r[0]}:{r[1]}" in only]
  output = common.results_dir() / "pretrained.md"
  cache_path = output.with_suffix(".json")
  cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
  for name, arg, dataset, cond, published, source in rows:
    key = f"{name}:{arg}"
    done = cache.get(key)
    if (done and not done.get("error") and not FLAGS.rerun_done
        and done.get("max_images") == FLAGS.max_images):
      print(f"{key}: already scored ({done['result'].get('psnr', float('nan')):.3f}), skipped")
      continue
    checkpoint = (weights_dir / name).resolve()
    common.ensure_weights(checkpoint)
    t0 = time.time()
    try:
      res = _score_evaluate(name, arg, checkpoint)
      err = ""
    except Exception as e:  # pylint: disable=broad-except  (one bad row must not hide the rest)
      res, err = {}, f"{type(e).__name__}: {e}"
    print(f"{name:14s} {arg:9s} {dataset:9s} ours {res.get('psnr', float('nan')):.3f} "
          f"published {published:.2f}  ({time.time() - t0:.0f}s) {err}", flush=True)
    # Re-read before writing so that concurrent runs on other rows keep theirs.
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    cache[key] = {"result": res, "error": err,
                  "max_images": FLAGS.max_images, "seconds": round(time.time() - t0, 1),
                  "command": "python experiments/reproduce_pretrained.py " + " ".join(sys.argv[1:]),
                  "date": str(datetime.date.today())}
    logs.write_json(cache_path, cache)
    _write_table(output, cache)
  _write_table(output, cache)
  print(f"wrote {output}")


def _write_table(path: Path, cache: dict) -> None:
  lines = [
      "# Official pretrained models: our re-implementation vs the published PSNR",
      "",
      "Made by `experiments/reproduce_pretrained.py` (rows and the command of each are kept in",
      f"`{path.with_suffix('.json').name}`), each scored by `enhance_jax.api.evaluate` (= `python -m enhance_jax.evaluate --config=pretrained/NAME:ARG`).",
      "",
      "Denoising: x + σ/255·N(0,1) (not clipped), output rounded to uint8, PSNR on the full",
      "image (published numbers used MATLAB `randn('seed',0)` noise). SR: the set's MATLAB-bicubic",
      "LR PNG, MATLAB-bicubic upsampled, PSNR/SSIM on MATLAB Y with `scale` px shaved (the official",
      "demo downsamples in float instead: 36.645 / 32.745 / 30.484 dB here for x2 / x3 / x4).",
      "Rows with an image count below the set size were scored on the first N images only.",
      "",
      "| model | config | set | condition | images | ours PSNR | published PSNR | Δ | ours SSIM "
      "| input PSNR | published source |",
      "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
  ]
  for name, arg, dataset, cond, published, source in ROWS:
    cfg = f"`pretrained/{name}.py" + (f":{arg}`" if arg else "`")
    done = cache.get(f"{name}:{arg}")
    if done is None:
      lines.append(f"| {name} | {cfg} | {dataset} | {cond} | – | not run | {published:.2f} "
                   f"| – | – | – | {source} |")
      continue
    res, err = done["result"], done["error"]
    if err:
      lines.append(f"| {name} | {cfg} | {dataset} | {cond} | – | failed: {err} | {published:.2f} "
                   f"| – | – | – | {source} |")
      continue
    psnr = res.get("psnr", float("nan"))
    lines.append(
        f"| {name} | {cfg} | {dataset} | {cond} | {res.get('num_images', '?')} | {psnr:.2f} "
        f"| {published:.2f} | {psnr - published:+.2f} | {res.get('ssim', float('nan')):.4f} "
        f"| {res.get('input_psnr', float('nan')):.2f} | {source} |")
  logs.write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
  common.run(main)
