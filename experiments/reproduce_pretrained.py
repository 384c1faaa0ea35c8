"""Re-scores the imported official models and writes experiments/results/pretrained.md.

  python experiments/reproduce_pretrained.py                      # all rows
  python experiments/reproduce_pretrained.py --only=dncnn_s25,ffdnet_gray:sigma=25 --max_images=10

For every row it imports the weights if `init_checkpoint` is missing
(`enhance_jax.import_weights`), then scores the config in
experiments/configs/pretrained/ with

  python -m enhance_jax.evaluate --config=<config>:<arg> --output_json=<file>

(`--backend=evaluate`), or with a small self-contained numpy/JAX loop over the
shared image folders (`--backend=local`: numpy `default_rng(seed + i)` noise,
`enhance_jax.data.bicubic` for SR, `enhance_jax.metrics.image_quality` for
PSNR/SSIM with the config's protocol). `--backend=auto` uses evaluate.py when
it exists. The table names the backend and the command that made it.

Each finished row is kept in `<output>.json` (with its backend and image
count) and the table is rewritten after every row, so an interrupted run keeps
its rows and a rerun skips them (`--norerun_done` is the default; pass
`--rerun_done` to score again).
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("backend", "auto", ["auto", "evaluate", "local"], "How to score each config.")
flags.DEFINE_string("only", "", "Comma-separated config names or name:arg rows to run "
                    "(default: all rows).")
flags.DEFINE_bool("rerun_done", False, "Score rows already in <output>.json again.")
flags.DEFINE_integer("max_images", 0, "Score only the first N images per set (0 = all).")
flags.DEFINE_string("output", str(REPO / "experiments" / "results" / "pretrained.md"),
                    "Markdown table to write.")
flags.DEFINE_string("weights_dir", None, "Imported variables (default: $ENHANCE_JAX_WEIGHTS or "
                    "<repo>/weights).")

CONFIG_DIR = REPO / "experiments" / "configs" / "pretrained"

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


def _load_config(name: str, arg: str):
  from enhance_jax.config import load_config_file  # pylint: disable=g-import-not-at-top
  return load_config_file(CONFIG_DIR / f"{name}.py", arg or None)


def _ensure_weights(name: str, checkpoint: Path) -> None:
  if checkpoint.exists():
    return
  from enhance_jax import import_weights  # pylint: disable=g-import-not-at-top
  logging.info("importing %s -> %s", name, checkpoint)
  import_weights.run([name], None, checkpoint.parent)


def _score_evaluate(name: str, arg: str, checkpoint: Path) -> dict:
  with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "result.json"
    cmd = [sys.executable, "-m", "enhance_jax.evaluate",
           f"--config={CONFIG_DIR / (name + '.py')}" + (f":{arg}" if arg else ""),
           f"--config.init_checkpoint={checkpoint}", f"--output_json={out}"]
    if FLAGS.max_images:
      cmd.append(f"--config.data.max_eval_images={FLAGS.max_images}")
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
      tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
      raise RuntimeError(f"evaluate failed for {name}:{arg}: {tail[0]}")
    return json.loads(out.read_text())


def _images(config) -> list[Path]:
  from enhance_jax.data import imageio  # pylint: disable=g-import-not-at-top
  from enhance_jax.data.paths import shared_subdir  # pylint: disable=g-import-not-at-top
  name = config.data.name
  if name == "set5":
    folder = shared_subdir("set5", f"image_SRF_{int(config.data.kwargs.scale)}")
    files = sorted(folder.glob("*_HR.png"))
  else:
    files = imageio.list_images(shared_subdir(name))
  return files[:FLAGS.max_images] if FLAGS.max_images else files


def _score_local(config, checkpoint: Path) -> dict:
  """Scores one config with a plain loop (one image at a time, full size)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from enhance_jax import models  # pylint: disable=g-import-not-at-top
  from enhance_jax.data import imageio  # pylint: disable=g-import-not-at-top
  from enhance_jax.data.degradations import parse_spec  # pylint: disable=g-import-not-at-top
  from enhance_jax.metrics import image_quality  # pylint: disable=g-import-not-at-top
  from enhance_jax.weights.variables import load_variables  # pylint: disable=g-import-not-at-top

  model = models.get(config.model.name, **dict(config.model.kwargs))
  variables = load_variables(checkpoint)
  protocol = image_quality.Protocol.from_config(config.eval)
  ops = parse_spec(config.data.degrade)
  needs_level = "noise_level" in models.extra_inputs(model)
  apply = jax.jit(lambda x, lvl: model.apply(variables, x, **({"noise_level": lvl} if needs_level
                                                               else {})))
  metric = jax.jit(lambda a, b: image_quality.psnr_ssim(a, b, protocol))
  rows = []
  for i, path in enumerate(_images(config)):
    clean = imageio.to_float(imageio.read_image(path, channels=config.data.channels))
    x, level = clean.astype(np.float64), 0.0
    if config.data.name == "set5":   # paired source: the input is the LR partner PNG
      lr = path.with_name(path.name.replace("_HR", "_LR"))
      x = imageio.to_float(imageio.read_image(lr, channels=config.data.channels)).astype(np.float64)
    for op, kw in ops:
      if op == "gaussian_noise":
        level = float(kw.get("sigma", 25.0)) / 255.0
        rng = np.random.default_rng(config.eval.seed + i)
        x = x + level * rng.standard_normal(x.shape)
        if kw.get("clip", False):
          x = np.clip(x, 0.0, 1.0)
      elif op in ("bicubic_down", "bicubic_up"):
        from enhance_jax.data import bicubic  # pylint: disable=g-import-not-at-top
        s = float(kw.get("scale", 4))
        x = bicubic.imresize_np(x, 1.0 / s if op == "bicubic_down" else s)
      else:
        raise ValueError(f"local backend: unsupported degradation {op!r}")
    x = jnp.asarray(x[None], jnp.float32)
    out = apply(x, jnp.full((1,), level, jnp.float32))
    target = jnp.asarray(clean[None])
    m = {k: float(v.reshape(-1)[0]) for k, v in metric(out, target).items()}
    mi = {k: float(v.reshape(-1)[0]) for k, v in metric(x, target).items()}
    rows.append({"psnr": m["psnr"], "ssim": m["ssim"], "input_psnr": mi["psnr"],
                 "input_ssim": mi["ssim"]})
  summary = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
  summary["num_images"] = len(rows)
  return summary


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  backend = FLAGS.backend
  if backend == "auto":
    backend = "evaluate" if (REPO / "enhance_jax" / "evaluate.py").exists() else "local"
  weights_dir = Path(FLAGS.weights_dir or os.environ.get("ENHANCE_JAX_WEIGHTS", REPO / "weights"))
  only = {s.strip() for s in FLAGS.only.split(",") if s.strip()}
  rows = [r for r in ROWS if not only or r[0] in only or f"{r[0]}:{r[1]}" in only]
  output = Path(FLAGS.output)
  cache_path = output.with_suffix(".json")
  cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
  for name, arg, dataset, cond, published, source in rows:
    key = f"{name}:{arg}"
    done = cache.get(key)
    if (done and not done.get("error") and not FLAGS.rerun_done
        and done.get("max_images") == FLAGS.max_images):
      print(f"{key}: already scored ({done['result'].get('psnr', float('nan')):.3f}), skipped")
      continue
    config = _load_config(name, arg)
    checkpoint = (weights_dir / name).resolve()
    _ensure_weights(name, checkpoint)
    t0 = time.time()
    try:
      res = (_score_evaluate(name, arg, checkpoint) if backend == "evaluate"
             else _score_local(config, checkpoint))
      err = ""
    except Exception as e:  # pylint: disable=broad-except  (one bad row must not hide the rest)
      res, err = {}, f"{type(e).__name__}: {e}"
    print(f"{name:14s} {arg:9s} {dataset:9s} ours {res.get('psnr', float('nan')):.3f} "
          f"published {published:.2f}  ({time.time() - t0:.0f}s) {err}", flush=True)
    # Re-read before writing so that concurrent runs on other rows keep theirs.
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    cache[key] = {"result": res, "error": err, "backend": backend,
                  "max_images": FLAGS.max_images, "seconds": round(time.time() - t0, 1),
                  "command": "python experiments/reproduce_pretrained.py " + " ".join(sys.argv[1:]),
                  "date": str(datetime.date.today())}
    _atomic_write(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    _write_table(output, cache)
  _write_table(output, cache)
  print(f"wrote {output}")


def _atomic_write(path: Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp")
  tmp.write_text(text)
  os.replace(tmp, path)


def _write_table(path: Path, cache: dict) -> None:
  lines = [
      "# Official pretrained models: our re-implementation vs the published PSNR",
      "",
      "Made by `experiments/reproduce_pretrained.py` (rows and the command of each are kept in",
      f"`{path.with_suffix('.json').name}`). Backend `local` = the plain loop in that script",
      "(numpy `default_rng(eval.seed + i)` noise); `evaluate` = `python -m enhance_jax.evaluate`.",
      "",
      "Denoising: x + σ/255·N(0,1) (not clipped), output rounded to uint8, PSNR on the full",
      "image (published numbers used MATLAB `randn('seed',0)` noise). SR: the set's MATLAB-bicubic",
      "LR PNG, MATLAB-bicubic upsampled, PSNR/SSIM on MATLAB Y with `scale` px shaved (the official",
      "demo downsamples in float instead: 36.645 / 32.745 / 30.484 dB here for x2 / x3 / x4).",
      "Rows with an image count below the set size were scored on the first N images only.",
      "",
      "| model | config | set | condition | images | ours PSNR | published PSNR | Δ | ours SSIM "
      "| input PSNR | backend | published source |",
      "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
  ]
  for name, arg, dataset, cond, published, source in ROWS:
    cfg = f"`pretrained/{name}.py" + (f":{arg}`" if arg else "`")
    done = cache.get(f"{name}:{arg}")
    if done is None:
      lines.append(f"| {name} | {cfg} | {dataset} | {cond} | – | not run | {published:.2f} "
                   f"| – | – | – | – | {source} |")
      continue
    res, err, backend = done["result"], done["error"], done["backend"]
    if err:
      lines.append(f"| {name} | {cfg} | {dataset} | {cond} | – | failed: {err} | {published:.2f} "
                   f"| – | – | – | {backend} | {source} |")
      continue
    psnr = res.get("psnr", float("nan"))
    lines.append(
        f"| {name} | {cfg} | {dataset} | {cond} | {res.get('num_images', '?')} | {psnr:.2f} "
        f"| {published:.2f} | {psnr - published:+.2f} | {res.get('ssim', float('nan')):.4f} "
        f"| {res.get('input_psnr', float('nan')):.2f} | {backend} | {source} |")
  _atomic_write(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
  app.run(main)
