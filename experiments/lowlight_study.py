"""Low-light study: CNN, U-Net autoencoder, MIRNet and GAN against classical baselines.

Reproduces lowlight_mirnet_cnn_gan.txt (MIRNet, U-Net-like CNN autoencoder and
GAN on LOL at 256x256, train/validation PSNR and loss curves) and Tasks 1-2 of
cnn_enhancement_lowlight_inpainting.txt (plain CNN, Adam 1e-3, MSE; MIRNet).

  python experiments/lowlight_study.py --profile=cpu     # ~20 min on 2 shared, loaded CPU cores (MIRNet 6 min)
  python experiments/lowlight_study.py --profile=paper   # GPU/TPU (launch/), needs the full LOL; hours

Every run is a row of the study config enhance_jax/configs/studies/lowlight.py
(`method=cnn|unet|mirnet|gan|gamma|hist_eq|clahe|zerodce|zerodce_zoo|default_zoo`): the
networks train through `api.train`; the classical methods, Zero-DCE (official weights) and the
zoo's models (trained here by their own configs, zoo/*/README.md) are scored by
`api.evaluate`, all on the same named test sets. Writes <results>/lowlight.md,
lowlight_curves.png, lowlight_bars.png and lowlight_unpaired.png (DICM/LIME and LOL 778
enhanced side by side).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

STUDY = "lowlight"
LABELS = {"cnn": "CNN (plain, MSE)", "unet": "U-Net autoencoder", "mirnet": "MIRNet",
          "gan": "GAN (U-Net G + PatchGAN D)", "gamma": "gamma (adaptive)",
          "hist_eq": "histogram equalisation", "clahe": "CLAHE",
          "zerodce": "Zero-DCE (official weights)",
          "zerodce_zoo": "Zero-DCE trained here (zoo/zerodce)",
          "default_zoo": "curve net, the default job (zoo/lowlight_default)"}
UNPAIRED = [("dicm", ("01", "14")), ("lime", ("7",))]  # (dataset, image names) in the figure


def enhancer(row):
  """HWC float image -> enhanced image: the trained/imported model through
  `inference.Enhancer` (tiled), or the classical method of a baseline config."""
  config = row.config
  if config.baseline.name:
    from enhance_jax.baselines import apply
    kwargs = dict(config.baseline.kwargs)
    return lambda x: apply(config.baseline.name, x, **kwargs)
  from enhance_jax.inference import Enhancer
  from enhance_jax.training import components
  model = components.model(config)
  trained = config.train.num_steps > 0
  variables, _ = components.load_inference_variables(
      config, model, str(row.dir) if trained else None, use_ema=config.eval.use_ema)
  return Enhancer(model, variables, config.data.channels)


def unpaired_figure(runs: dict, tests: list[str], out_png: Path) -> Path:
  """LOL 778 (with its reference) and DICM/LIME images, each method side by side."""
  from enhance_jax import plots
  from enhance_jax.training import components
  base = next(iter(runs.values())).config
  pairs = []
  if "lol778" in tests:
    lol = components.source(_set_config(base, "lol778"), "test")
    pairs.append((f"LOL {lol[0]['name']}", lol[0]["input"], lol[0]["target"]))
  for dataset, wanted in UNPAIRED:
    c = copy.deepcopy(base)
    c.data.name = dataset
    c.data.kwargs = {}
    src = components.source(c, "test")
    by_name = {src[i]["name"]: i for i in range(len(src))}
    pairs += [(f"{dataset.upper()} {n}", src[by_name[n]]["target"], None) for n in wanted
              if n in by_name]
  fns = {m: enhancer(r) for m, r in runs.items()}
  rows, names = [], []
  for label, image, reference in pairs:
    x = image.astype("float32") / 255.0
    row = [x] + [fn(x) for fn in fns.values()]
    if reference is not None:
      row.append(reference.astype("float32") / 255.0)
    rows.append(row)
    names.append(label)
  labels = ["input"] + [short(LABELS[m]) for m in runs] + ["reference (LOL)"]
  return common.compact_png(plots.image_grid(rows, labels, out_png, row_labels=names))


def _set_config(config, name: str):
  from enhance_jax.training import evaluation
  return evaluation.set_configs(config, [name])[name]


def main():
  results = common.results_dir()
  runs = {}
  for arg in common.rows(STUDY):
    runs[arg.split("=", 1)[1]] = common.run_row(STUDY, arg)
  tests = list(common.study_module(STUDY).test_sets(common.profile()))  # the study's order
  rows, curves, commands = [], {}, []
  for method, r in runs.items():
    learned = r.config.train.num_steps > 0
    label = LABELS[method]
    if learned and r.config.model.name == "mirnet_small":
      label += " (mirnet_small)"
    kind = "learned" if learned else ("classical" if r.config.baseline.name else "pretrained")
    steps, train_s = (r.config.train.num_steps if learned else 0), r.train_s
    if method in common.study_module(STUDY).ZOO:  # trained by its zoo config: the card's run
      t = common.zoo_training(r.config)
      kind, steps, train_s = "learned (zoo)", t["steps"], t["wall_seconds"]
    row = dict(method=label, kind=kind,
               params=0 if kind == "classical" else common.count_params(r.config),
               train_s=train_s, steps=steps)
    for t in tests:
      row.update({f"{m}_{t}": r.results[t][m] for m in ("psnr", "ssim", "input_psnr",
                                                          "input_ssim", "num_images")})
    rows.append(row)
    commands.append((label, r, tests[0]))
    if learned:
      curves[label] = r.dir / "curves.jsonl"
      common.write_jsonl(curves[label], common.curve_rows(
          r.dir / "metrics.jsonl", "val" if "val" in r.config.evals else tests[0]))
  from enhance_jax import plots
  profile = common.profile()
  plots.plot_curves(curves, ["psnr", "mse"], results / "lowlight_curves.png",
                    title=f"low-light, {profile} profile: train (solid) / validation (dashed)")
  plots.bar_chart([dict(r, method=short(r["method"])) for r in rows], "method",
                  [f"psnr_{t}" for t in tests], results / "lowlight_bars.png",
                  title=f"low-light PSNR ({profile} profile)")
  unpaired_figure(runs, tests, results / "lowlight_unpaired.png")
  columns, table = table_rows(rows, tests)
  example = runs["cnn"].config
  common.write_table(results / "lowlight.md", "Low-light enhancement", columns, table,
                     notes=notes(rows, tests, example), extra=figures(example),
                     commands=commands)


def table_rows(rows: list[dict], tests: list[str]) -> tuple[list[str], list[list]]:
  cols = ["method", "kind", "params", "steps", "train time"]
  for t in tests:
    cols += [f"PSNR {t}", f"SSIM {t}"]
  first = rows[0]
  inputs = ["input (no enhancement)", "–", "–", "–", "–"]
  for t in tests:
    inputs += [common.fmt(first[f"input_psnr_{t}"]),
               common.fmt(first[f"input_ssim_{t}"], 4)]
  out = [inputs]
  for r in rows:
    cells = [r["method"], r["kind"], f"{r['params']:,}" if r["params"] else "–",
             str(r["steps"]) if r["steps"] else "–",
             f"{r['train_s']:.0f} s" if r["train_s"] else "–"]
    for t in tests:
      cells += [common.fmt(r[f"psnr_{t}"]), common.fmt(r[f"ssim_{t}"], 4)]
    out.append(cells)
  return cols, out


def notes(rows: list[dict], tests: list[str], example) -> str:
  """Setting, test sets and the learned-vs-classical comparison, from the configs and numbers."""
  from enhance_jax.training import evaluation
  c = example
  setting = (f"Networks train {c.train.num_steps} steps of batch {c.train.batch_size} on "
             f"{c.data.patch_size}x{c.data.patch_size} crops of `{c.data.name}` "
             f"{c.data.train_split}" + (f" with `{c.data.degrade}`" if c.data.degrade else "")
             + " (widths and recipes in enhance_jax/configs/lowlight_*.py and "
             "studies/lowlight.py). Test sets:")
  body = [setting, ""]
  for t in tests:
    d = evaluation.set_configs(c, [t])[t].data
    size = f"centre crops {d.eval_max_size}x{d.eval_max_size}" if d.eval_max_size else "full images"
    n = rows[0][f"num_images_{t}"]
    count = f"the first {n}" if d.max_eval_images else f"all {n}"
    body.append(f"- `{t}` — {d.name} {d.eval_split}, {count} image{'s' if n != 1 else ''}, {size}"
                + (f", `{d.degrade}`" if d.degrade else "") + ".")
  body += ["", "PSNR (dB) / SSIM on RGB, output rounded to uint8, whole test image. Train time "
           "= the training steps' wall time on the loaded 2-core machine (from the logged "
           "steps/s). Classical methods have no parameters (gamma maps mean V to 0.5; HE on V; "
           "CLAHE 8x8 tiles, clip 0.01, on L*). Zero-DCE: official `Epoch99.pth` "
           "(`python -m enhance_jax.import_weights --model=zerodce`). Zoo rows (`learned (zoo)`): "
           "models trained here by their zoo config and scored with the zoo's weights; their "
           "steps and train time are the card's run (zoo/NAME/README.md), not this study's "
           "recipe.", ""]
  return "\n".join(body + verdict(rows, tests))


def figures(example) -> str:
  return "\n".join([
      "![PSNR per method](lowlight_bars.png)", "",
      "Train (solid; PSNR from the logged batch MSE) and validation (dashed) PSNR and MSE per "
      f"epoch (one epoch = {example.train.log_every} steps):", "",
      "![curves](lowlight_curves.png)", "",
      "LOL 778 (with its reference) and unpaired DICM / LIME images enhanced by every method "
      "(no reference, so no score):", "", "![unpaired](lowlight_unpaired.png)"])


def verdict(rows: list[dict], tests: list[str]) -> list[str]:
  """Which learned models beat the best classical method on each test set, and by how much."""
  out = ["### Learned vs classical"]
  for t in tests:
    k = f"psnr_{t}"
    best = max((r for r in rows if r["kind"] == "classical"), key=lambda r: r[k])
    fmt = lambda rs: ", ".join(f"{r['method']} ({r[k] - best[k]:+.2f} dB)" for r in rs) or "none"  # noqa: E731
    better = [r for r in rows if r["kind"].startswith("learned") and r[k] > best[k]]
    worse = [r for r in rows if r["kind"].startswith("learned") and r[k] <= best[k]]
    out.append(f"- **{t}**: best classical = {best['method']} ({best[k]:.2f} dB). "
               f"Above it: {fmt(better)}. At or below it: {fmt(worse)}.")
  return out


def short(label: str) -> str:
  return label.split(" (")[0]


if __name__ == "__main__":
  common.run(main)
