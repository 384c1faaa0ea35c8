"""Training parity with a KAIR-style PyTorch loop: DnCNN-S σ=25 (Train400) and SRCNN x3.

    python experiments/parity/run.py                               # both models, both inits
    python experiments/parity/run.py --models=dncnn --inits=copied  # re-makes one row

For each model, 200 steps (--steps) of batch 16 (--batch) in our trainer (`tasks.build(config)`:
the optimizer, loss and jitted `steps.train_step` of the config) and in PyTorch
(experiments/benchmarks/torch_reference.py modules, a KAIR-style loop), on the same numpy
batches in the same order (experiments/parity/parity.py says what is matched and how). Init
modes: 'copied' = PyTorch's default initialisation (seed --seed) copied into our model;
'default' = each framework its own default (ours: Flax lecun_normal conv kernels and zero biases
from the config's seed; PyTorch: kaiming_uniform(a=√5) kernels and uniform biases). PyTorch
starts from its default in both modes, so its run is the same and is made once per model (and
reused from parity.json by a later run of the same settings). 'copied_xla': ours from PyTorch's
init with our convolutions on XLA's kernels instead of oneDNN's, another float32 summation order
in our own trainer: how far the order alone moves our curve and final PSNR.
The control (--control_steps, default the first 10): PyTorch again in float64 from the same
weights on the same batches, the run without float32 rounding. How far PyTorch's own float32 run
lies from it is how far float32 rounding alone moves the curve; ours is measured against it too.
--control=perturbed: PyTorch again in the run's dtype from the same weights each multiplied by
1 ± a few ulps (parity.PERTURBATION): over all the steps (--control_steps=--steps, final PSNR scored
too) it shows how far PyTorch lands from itself when only rounding-sized differences separate
two runs, the scale against which ours vs PyTorch is read; ours then also trains from those
perturbed weights (a second sample of ours).
(A channels_last PyTorch run is no such control: it gave bit-identical losses.)
--dtype=float64: both frameworks train in float64 from the same weights on the same batches
(rows '<model>.f64'): the two trainers' arithmetic compared without float32 rounding, which
makes DnCNN-S's float32 curves drift from step 1 (PyTorch float32 against float64 too). Its
control is PyTorch float64 again from the weights each multiplied by 1 ± 2^-50 (a few ulps):
how far differences of rounding size grow over the run in float64 by the dynamics alone.

Final PSNR (our `metrics.image_quality` for both frameworks' outputs, eval mode = BN running
statistics): DnCNN on the first --eval_images BSD68 images with AWGN σ=25 (numpy seed
--seed + 1, not clipped), output rounded to 8 bits, full image; SRCNN on Set5 x3 (the LR PNGs
MATLAB-bicubic upsampled, Y of MATLAB rgb2ycbcr, output rounded to 8 bits, 3 px shaved).

Writes <results>/parity.json (every row's per-step losses; a run of some rows replaces those
and keeps the rest), parity.md (the tables, from the JSON) and parity.png (the curves).
PyTorch is an optional dependency (the `bench` extra): without it the script stops with a line
saying so.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from absl import flags  # noqa: E402

from experiments import common  # noqa: E402  (the study flags: --results)

MODELS = flags.DEFINE_list("models", ["dncnn", "srcnn"], "Models: dncnn and/or srcnn.")
INITS = flags.DEFINE_list("inits", ["copied", "default", "copied_xla", "zoo"],
                          "Runs of ours: copied (PyTorch's init), default (Flax's own init), "
                          "copied_xla (PyTorch's init, XLA's convolution kernels instead of "
                          "oneDNN: another float32 summation order in our own trainer), zoo "
                          "(the zoo config's init, ZOO_INIT, copied into PyTorch, which trains "
                          "from it).")
CHANNELS_LAST = flags.DEFINE_bool(
    "torch_channels_last", True, "PyTorch's float32 run in channels_last memory format (its "
    "faster CPU path; on DnCNN-S it gave losses bit-identical to the default layout).")
RETRAIN_TORCH = flags.DEFINE_bool("retrain_torch", False, "Train PyTorch again even when "
                                  "parity.json holds its run for the same settings.")
STEPS = flags.DEFINE_integer("steps", 200, "Training steps.")
BATCH = flags.DEFINE_integer("batch", 16, "Batch size (both models).")
EVAL_IMAGES = flags.DEFINE_integer("eval_images", 8, "DnCNN: the first N BSD68 images.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of the batches, of PyTorch's init and of our "
                            "config (config.seed: our default init).")
THREADS = flags.DEFINE_integer("threads", 2, "torch.set_num_threads.")
CONTROL_STEPS = flags.DEFINE_integer(
    "control_steps", 10, "Also train the control (--control) for this many steps (0 = no; all "
    "the steps: its final PSNR is scored too).")
CONTROL = flags.DEFINE_enum(
    "control", "float64", ["float64", "perturbed"], "The control run: float64 = PyTorch in float64 "
    "from the same weights (the float32-rounding control, 3.5x slower than float32 for "
    "DnCNN); perturbed = PyTorch in the run's dtype from the same weights each multiplied by "
    "1 ± parity.PERTURBATION[dtype] (a few ulps): how far the dynamics alone carry a rounding-sized "
    "difference. --dtype=float64 always uses perturbed.")
DNCNN_FEATURES = flags.DEFINE_integer(
    "dncnn_features", 64, "DnCNN width (64 = DnCNN-S; fewer for a cheaper run, its rows are "
    "named dncnn17x<features>).")
MERGE_FROM = flags.DEFINE_string(
    "merge_from", None, "Add the rows of this parity.json (e.g. of a run made at the same time "
    "with another --results) to this one's, unchanged, before the tables are written.")
DTYPE = flags.DEFINE_enum(
    "dtype", "float32", ["float32", "float64"], "float64: both frameworks train and score in "
    "float64 (ours under jax_enable_x64 with config.train.dtype float64, PyTorch .double(), "
    "NCHW): the per-step comparison of the arithmetic without float32 rounding. Rows named "
    "<model>.f64; their control (--control_steps) is always --control=perturbed.")
TINY = flags.DEFINE_bool("tiny", False, "Tiny models and images (a dry run of the script; the "
                         "numbers mean nothing).")

SIGMA = 25.0
SCALE = 3
DNCNN_PATCH, SRCNN_PATCH = 40, 33
TOL = 1e-3            # the per-step bound (relative)
PSNR_TOL = 0.05       # dB, where float32 ordering makes the curves drift
LABELS = {"dncnn": "DnCNN-S σ=25 (17x64, BN)", "srcnn": "SRCNN 9-5-5 x3 (Y)"}


def zoo_init(name: str) -> dict:
  """The model kwargs of the zoo config's initialisation (enhance_jax/configs/zoo/): DnCNN-S
  kernels x INIT_GAIN (zoo/dncnn_s25), SRCNN's identity init (zoo/srcnn_x3)."""
  from enhance_jax.config import load_config
  if name == "dncnn":
    from enhance_jax.configs.zoo import dncnn_s25
    return {"init_gain": dncnn_s25.INIT_GAIN}
  if name == "srcnn":
    return {"kernel_init": load_config("zoo/srcnn_x3").model.kwargs.kernel_init}
  raise ValueError(f"--models: {name!r} is not dncnn or srcnn.")


def variant(name: str) -> str:
  """The rows' name: the model, with the width when DnCNN is not 64 wide, '@<steps>' when
  --steps is not the issue's 200 and '~seed<N>' when --seed is not 0 (so a longer run or
  another seed is a row beside the others)."""
  v = name
  if name == "dncnn" and DNCNN_FEATURES.value != 64:
    v = f"dncnn17x{DNCNN_FEATURES.value}"
  v = v if STEPS.value == STEPS.default else f"{v}@{STEPS.value}"
  v = v if SEED.value == SEED.default else f"{v}~seed{SEED.value}"
  return v if DTYPE.value == "float32" else f"{v}.f64"


def label(v: str) -> str:
  """A row name's label: the model's, its width, its steps when not 200, its seed when not 0
  and 'float64' for a float64 row."""
  v, f64, _ = v.partition(".f64")
  v, _, seed = v.partition("~seed")
  base, _, steps = v.partition("@")
  text = LABELS.get(base) or (f"DnCNN σ=25 (17x{base.split('x')[-1]}, BN)"
                              if base.startswith("dncnn17x") else base)
  return (text + (f", {steps} steps" if steps else "") + (f", seed {seed}" if seed else "")
          + (", float64 in both" if f64 else ""))


def config_for(name: str, steps: int, batch: int, tiny: bool, init: str = ""):
  """The shipped config with the batch, steps and sizes of this comparison; degradation ''
  (the batches come noisy / upsampled); init 'zoo': the zoo config's model init (zoo_init)."""
  from enhance_jax.config import load_config
  extra = ({f"model.kwargs.{k}": v for k, v in zoo_init(name).items()} if init == "zoo"
           else {})
  if name == "dncnn":
    over = {"train.batch_size": batch, "data.degrade": "", "data.patch_size": DNCNN_PATCH,
            **extra}
    over["model.kwargs.features"] = DNCNN_FEATURES.value
    if tiny:
      over.update({"model.kwargs.depth": 4, "model.kwargs.features": 8})
    return load_config("dncnn_s25_train400", f"steps={steps}", over)
  if name == "srcnn":
    over = {"init_checkpoint": "", "train.num_steps": steps, "train.batch_size": batch,
            "data.degrade": "", "data.channels": 1, "data.scale": 1,
            "data.patch_size": SRCNN_PATCH, "loss": "l2", "optimizer.learning_rate": 1e-3,
            "optimizer.schedule": "constant", "optimizer.warmup_steps": 0,
            "optimizer.grad_clip_norm": 0.0, **extra}
    if tiny:
      over["model.kwargs.features"] = (8, 4)
    return load_config("pretrained/srcnn_955_x3", None, over)
  raise ValueError(f"--models: {name!r} is not dncnn or srcnn.")


def data_dir():
  from enhance_jax.data import paths
  root = paths.shared_data_dir()
  if not root.is_dir():
    raise FileNotFoundError(f"{root}: the shared data folder is missing; set "
                            f"{paths.ENV_VAR} to it.")
  return root


def make_data(name: str, steps: int, batch: int, seed: int, tiny: bool):
  """(training batches, eval inputs, eval targets, eval baseline PSNR or None)."""
  import numpy as np
  from experiments.parity import parity
  root = data_dir()
  if name == "dncnn":
    train = parity.read_gray(sorted((root / "train400").glob("*.png"))[:40 if tiny else None])
    batches = parity.denoise_batches(train, steps, batch, DNCNN_PATCH, SIGMA, seed)
    n = 1 if tiny else EVAL_IMAGES.value
    clean = parity.read_gray(sorted((root / "bsd68").glob("*.png"))[:n])
    if tiny:
      clean = [c[:64, :64] for c in clean]
    rng = np.random.default_rng(seed + 1)
    noisy = [c + rng.standard_normal(c.shape).astype(np.float32) * np.float32(SIGMA / 255.0)
             for c in clean]
    return batches, noisy, clean, None
  paths = sorted((root / "bsds500" / "images" / "train").glob("*.jpg"))[:8 if tiny else None]
  pairs = [parity.sr_pair(im, SCALE) for im in parity.read_rgb(paths)]
  batches = parity.sr_batches(pairs, steps, batch, SRCNN_PATCH, seed)
  from enhance_jax.data import bicubic, color
  folder = root / "set5" / f"image_SRF_{SCALE}"
  inputs, targets = [], []
  for hr_path in sorted(folder.glob("*_HR.png"))[:1 if tiny else None]:
    lr = parity.read_rgb([Path(str(hr_path).replace("_HR.png", "_LR.png"))])[0]
    hr = parity.read_rgb([hr_path])[0]
    up = bicubic.imresize_np(lr.astype(np.float64), float(SCALE))
    inputs.append(color.rgb_to_y(up).astype(np.float32))
    targets.append(color.rgb_to_y(hr.astype(np.float64)).astype(np.float32))
  return batches, inputs, targets, "bicubic"


def row_command(name: str, init: str) -> str:
  """The command that re-makes the row (the flags of this run that differ from the defaults)."""
  args = [f"--models={name}", f"--inits={init}"]
  for flag in (STEPS, BATCH, EVAL_IMAGES, SEED, THREADS, CONTROL_STEPS, CONTROL, CHANNELS_LAST,
               DNCNN_FEATURES, DTYPE, TINY):
    if flag.value != flag.default:
      args.append(f"--{flag.name}={flag.value}" if not isinstance(flag.value, bool) else
                  f"--{'' if flag.value else 'no'}{flag.name}")
  return "python experiments/parity/run.py " + " ".join(args)


def protocol(name: str):
  from enhance_jax.metrics import image_quality
  if name == "dncnn":
    return image_quality.Protocol(round_uint8=True)
  return image_quality.Protocol(round_uint8=True, crop_border=SCALE)


def settings(name: str, config) -> dict:
  """What a PyTorch run depends on: a saved run with the same settings is reused."""
  return {"model": name, "steps": STEPS.value, "batch": BATCH.value, "seed": SEED.value,
          "eval_images": EVAL_IMAGES.value, "tiny": TINY.value, "threads": THREADS.value,
          "channels_last": CHANNELS_LAST.value, "dtype": DTYPE.value,
          "control_steps": CONTROL_STEPS.value, "control": control_kind(),
          "config": config_summary(config)}


def control_kind() -> str:
  """'float64' or 'perturbed' (always for --dtype=float64: its float64 control is the run)."""
  return "perturbed" if DTYPE.value == "float64" else CONTROL.value


def config_summary(config) -> dict:
  return json.loads(json.dumps({"model": config.model.kwargs.to_dict(),
                                "optimizer": config.optimizer.to_dict(), "loss": config.loss}))


def run_model(name: str, inits: list[str], torch, saved: dict) -> dict:
  """Trains and scores `name` in the asked modes; returns {init: row}. The modes from
  PyTorch's init share one PyTorch run; 'zoo' has its own (PyTorch from the zoo init)."""
  rows = {}
  plain = [i for i in inits if i != "zoo"]
  if plain:
    rows.update(_run_group(name, plain, torch, saved, zoo=False))
  if "zoo" in inits:
    rows.update(_run_group(name, ["zoo"], torch, saved, zoo=True))
  return rows


def _run_group(name: str, inits: list[str], torch, saved: dict, zoo: bool) -> dict:
  """Ours in each mode of `inits` and one PyTorch run: from PyTorch's default init, or (zoo)
  from our zoo init copied into PyTorch. PyTorch's run is taken from a row of `saved` with
  the same `settings` unless --retrain_torch."""
  from experiments.parity import parity
  steps, batch, seed, tiny = STEPS.value, BATCH.value, SEED.value, TINY.value
  config = config_for(name, steps, batch, tiny, init="zoo" if zoo else "")
  config.seed = seed
  f64 = DTYPE.value == "float64"
  if f64:
    config.train.dtype = "float64"
  t = time.perf_counter()
  batches, eval_in, eval_target, baseline = make_data(name, steps, batch, seed, tiny)
  if f64:
    import numpy as np
    batches = [{k: v.astype(np.float64) for k, v in b.items()} for b in batches]
    eval_in = [x.astype(np.float64) for x in eval_in]
  print(f"{name}: {len(batches)} batches of {batches[0]['input'].shape} made in "
        f"{time.perf_counter() - t:.1f} s", flush=True)
  prot = protocol(name)
  lrs = parity.learning_rates(config, steps)

  # PyTorch, default init (the same in the modes of this group), and its weights before
  # training; or (zoo) our zoo init, copied into PyTorch.
  module = parity.torch_module(name, config, seed)
  if zoo:
    import jax
    import numpy as np
    from enhance_jax.training import components
    copied = jax.tree.map(np.asarray, components.init_variables(config, components.model(config)))
    parity.load_torch_from_flax(name, module, copied)
  else:
    copied = parity.flax_from_torch(name, module)
  parity.check_flax_tree(config, copied)
  if f64:
    import jax
    import numpy as np
    module.double()
    copied = jax.tree.map(lambda a: np.asarray(a, np.float64), copied)
  # A full-length perturbed control: ours trains from the same perturbed weights too (a second
  # sample of each framework's final PSNR at a rounding-sized distance from the first).
  perturbed_init = None
  if control_kind() == "perturbed" and CONTROL_STEPS.value >= steps:
    import copy
    pm = copy.deepcopy(module)
    parity.perturb(pm, parity.PERTURBATION[DTYPE.value])
    perturbed_init = parity.flax_from_torch(name, pm)
  key = settings(name, config)
  old = next((r for r in saved.values() if r.get("settings") == key), None)
  if old is not None and not RETRAIN_TORCH.value:
    ref = {"loss": old["torch_loss"], "seconds": old["torch_s"]}
    ref_psnr = old["torch_psnr"]
    control = ({"loss": old["control_loss"], "seconds": old["control_s"],
                "psnr": old.get("control_psnr")} if old.get("control_loss") else None)
    print(f"{name}: PyTorch's run reused from the saved {old['model']}/{old['init']} row "
          "(same settings; --retrain_torch to train it again)", flush=True)
  else:
    ref, ref_psnr, control = train_reference(name, config, module, batches, lrs, eval_in,
                                             eval_target, prot)
  base_psnr = (parity.mean_psnr(eval_in, eval_target, prot) if baseline else None)

  rows = {}
  for init in inits:
    if init in ("copied", "copied_xla", "zoo"):
      variables = copied
    elif init == "default":
      import jax
      import numpy as np
      from enhance_jax.training import components
      variables = components.init_variables(config, components.model(config))
      variables = jax.tree.map(lambda a: np.asarray(a, np.float64 if f64 else np.float32),
                               variables)
    else:
      raise ValueError(f"--inits: {init!r} is not copied, default or copied_xla.")
    from enhance_jax.models import convolution
    before = convolution.use_onednn
    convolution.use_onednn = False if init == "copied_xla" else before
    try:
      kernels = "xla, float64 as im2col matmuls" if f64 else convolution.backend()
      ours = parity.train_ours(config, variables, batches)
      outputs = parity.apply_ours(config, ours["variables"], eval_in)
      ours_ctl = None
      if perturbed_init is not None and init != "default":
        ours_ctl = parity.train_ours(config, perturbed_init, batches)
        ours_ctl["psnr"] = parity.mean_psnr(
            parity.apply_ours(config, ours_ctl["variables"], eval_in), eval_target, prot)
        print(f"{name}/{init}: ours from the control's perturbed weights: PSNR "
              f"{ours_ctl['psnr']:.3f}", flush=True)
    finally:
      convolution.use_onednn = before
    psnr = parity.mean_psnr(outputs, eval_target, prot)
    rel = parity.relative_diff(ours["loss"], ref["loss"])
    print(f"{name}/{init}: ours ({kernels} kernels) {steps} steps in {ours['seconds']:.0f} s "
          f"(+{ours['compile_s']:.0f} s compile), max rel. diff {rel.max():.2e}, PSNR {psnr:.3f} "
          f"(PyTorch {ref_psnr:.3f})", flush=True)
    rows[init] = {
        "model": name, "variant": variant(name), "init": init, "kernels": kernels, "steps": steps, "batch": batch,
        "seed": seed, "settings": key, "command": row_command(name, init),
        "lr": lrs, "ours_loss": ours["loss"], "torch_loss": ref["loss"],
        "control_loss": control["loss"] if control else None,
        "control_steps": len(control["loss"]) if control else 0,
        "control": control_kind() if control else None,
        "control_psnr": control.get("psnr") if control else None,
        "ours_control_loss": ours_ctl["loss"] if ours_ctl else None,
        "ours_control_psnr": ours_ctl["psnr"] if ours_ctl else None,
        "ours_psnr": psnr, "torch_psnr": ref_psnr,
        "baseline_psnr": base_psnr,
        "baseline": baseline, "ours_s": ours["seconds"], "ours_compile_s": ours["compile_s"],
        "torch_s": ref["seconds"], "control_s": control["seconds"] if control else None,
        "eval_images": len(eval_in), "tiny": tiny, "config": config_summary(config),
        "dtype": DTYPE.value,
    }
  return rows


def train_reference(name, config, module, batches, lrs, eval_in, eval_target, prot):
  """PyTorch's run (trains `module`) and the control (--control; with its final PSNR when it
  runs all the steps): (run, PSNR, control or None)."""
  import copy
  from experiments.parity import parity
  cfg, steps = config.optimizer, len(batches)
  f64 = DTYPE.value == "float64"  # the module is float64 already
  kind = control_kind()
  control_module = copy.deepcopy(module) if CONTROL_STEPS.value else None
  if control_module is not None and kind == "float64":
    control_module.double()
  elif control_module is not None:
    parity.perturb(control_module, parity.PERTURBATION[DTYPE.value])
  ref = parity.train_torch(module, batches, lrs, cfg.b1, cfg.b2, dtype=DTYPE.value,
                           channels_last=CHANNELS_LAST.value and not f64)
  ref_psnr = parity.mean_psnr(parity.apply_torch(module, eval_in), eval_target, prot)
  print(f"{name}: PyTorch {steps} steps in {ref['seconds']:.0f} s, last loss "
        f"{ref['loss'][-1]:.6f}, PSNR {ref_psnr:.3f}", flush=True)
  control = None
  if control_module is not None:
    n = min(CONTROL_STEPS.value, steps)
    ctl_dtype = "float64" if kind == "float64" or f64 else "float32"
    control = parity.train_torch(control_module, batches, lrs[:n], cfg.b1, cfg.b2,
                                 dtype=ctl_dtype, channels_last=CHANNELS_LAST.value and not f64
                                 and kind == "perturbed")
    if n == steps:
      control["psnr"] = parity.mean_psnr(parity.apply_torch(control_module, eval_in),
                                         eval_target, prot)
    print(f"{name}: control ({kind}, PyTorch {ctl_dtype}), {n} steps in "
          f"{control['seconds']:.0f} s; max rel. diff of PyTorch {DTYPE.value} from it "
          f"{parity.relative_diff(ref['loss'][:n], control['loss']).max():.2e}"
          + (f", PSNR {control['psnr']:.3f}" if "psnr" in control else ""), flush=True)
  return ref, ref_psnr, control


def main() -> None:
  from experiments.benchmarks.common import import_torch
  from experiments.parity import report
  torch = import_torch(THREADS.value)
  if torch is None:
    raise ValueError("PyTorch is not installed: this comparison needs it (pip install "
                     "'enhance_jax[bench]' or torch==2.13.0, CPU).")
  torch.use_deterministic_algorithms(True)
  if DTYPE.value == "float64":
    import jax
    jax.config.update("jax_enable_x64", True)
  out = common.results_dir()
  stem = "parity_tiny" if TINY.value else "parity"
  path = out / f"{stem}.json"
  saved = json.loads(path.read_text()) if path.is_file() else {}
  from enhance_jax.training import logs
  if MERGE_FROM.value:
    saved.update(json.loads(Path(MERGE_FROM.value).read_text()))
    logs.write_json(path, saved)
  for name in MODELS.value:
    for init, row in run_model(name, list(INITS.value), torch, saved).items():
      saved[f"{variant(name)}/{init}"] = row
      logs.write_json(path, saved)  # after each row: a later failure keeps the finished ones
  variants = {k.split("/")[0] for k in saved}
  labels = {v: label(v) for v in variants}
  report.write(saved, out / f"{stem}.md", out / f"{stem}.png", TOL, PSNR_TOL, SIGMA, labels)


if __name__ == "__main__":
  common.run(main)
