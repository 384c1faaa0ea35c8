"""parity.md and parity.png from the rows `run.py` saved (parity.json): every number below is
computed from the per-step losses and PSNRs stored there."""
from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy as np

from experiments import common
from experiments.parity import parity


def _f(v, digits=3):
  return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _e(v):
  return "–" if v is None else f"{v:.1e}"


def _mean(x, lo, hi):
  x = np.asarray(x[lo:hi], np.float64)
  return float(x.mean()) if len(x) else float("nan")


def _first_over(rel: np.ndarray, tol: float) -> str:
  """'first over <tol> at step i' (the first relative difference above `tol`), or '... at no
  step'."""
  over = np.nonzero(rel > tol)[0]
  return f"first over {tol:g} at " + (f"step {int(over[0])}" if len(over) else "no step")


def variants(rows: dict) -> list[str]:
  """The model variants of the rows ('dncnn', 'dncnn17x16', 'srcnn'), denoisers first."""
  names = list(dict.fromkeys(k.split("/")[0] for k in rows))
  return sorted(names, key=lambda v: (not denoiser(v), v))


def denoiser(variant: str) -> bool:
  return variant.startswith("dncnn")


def at_identity(r: dict, sigma: float) -> bool:
  """A denoiser row whose two runs both end at the identity map: the last-10-step mean loss
  of each within ±20% of σ² (the loss of output = noisy input), so equal PSNRs say nothing."""
  if not denoiser(r.get("variant", r["model"])):
    return False
  level = (sigma / 255.0) ** 2
  return all(abs(_mean(r[k], len(r[k]) - 10, len(r[k])) / level - 1.0) <= 0.2
             for k in ("ours_loss", "torch_loss"))


def parity_row(r: dict, tol: float, psnr_tol: float, sigma: float) -> list[str]:
  ours, ref = r["ours_loss"], r["torch_loss"]
  d = r["ours_psnr"] - r["torch_psnr"]
  copied = r["init"] in ("copied", "copied_xla", "zoo")
  rel = parity.relative_diff(ours, ref) if copied else None
  ctl = r.get("control_loss") if copied else None
  n = len(ctl) if ctl else 0
  ctl_torch = parity.relative_diff(ref[:n], ctl).max() if n else None
  ctl_ours = parity.relative_diff(ours[:n], ctl).max() if n else None
  over = np.nonzero(rel > tol)[0] if rel is not None else []
  perturbed = ", perturbed" if control_of(r) == "perturbed" else ""
  if not copied:
    verdict = "init comparison (curves differ by design)"
  elif rel.max() <= tol:
    verdict = f"**pass**: every step within {tol:g}"
  elif at_identity(r, sigma):
    verdict = ("**undecided**: drifts, and both runs end at the identity map (last-10-step mean "
               "loss within ±20% of σ²), where equal PSNRs say nothing")
  elif abs(d) <= psnr_tol:
    verdict = (f"**pass** by PSNR: drifts ({r.get('dtype', 'float32')} summation order), PSNR "
               f"within {psnr_tol:g} dB")
  else:
    verdict = "**FAIL**"
  init = {"copied": "PyTorch's, copied",
          "copied_xla": "PyTorch's, copied; ours on XLA's conv kernels (not oneDNN)",
          "default": "each its own (ours: Flax lecun_normal)",
          "zoo": f"the zoo's ({zoo_init_text(r)}), copied into PyTorch"}[r["init"]]
  if r.get("dtype") == "float64":
    init += "; float64 in both"
  return [r.get("variant", r["model"]), init, f"{r['steps']} x {r['batch']}",
          _e(rel[:10].max()) if copied else "–",
          _e(rel.max()) if copied else "–",
          (str(int(over[0])) if len(over) else "none") if copied else "–",
          f"{_e(ctl_ours)} / {_e(ctl_torch)} ({n} steps{perturbed})" if n else "–",
          _f(r["ours_psnr"]), _f(r["torch_psnr"]), f"{d:+.3f}",
          _f(r["baseline_psnr"]) if r.get("baseline_psnr") is not None else "–",
          f"{r['ours_s']:.0f} / {r['torch_s']:.0f}", verdict]


def zoo_init_text(r: dict) -> str:
  """The zoo init of a row, from its config's model kwargs."""
  kw = r["config"]["model"]
  if "init_gain" in kw:
    return f"Flax lecun_normal x {kw['init_gain']:g}"
  return f"kernel_init={kw.get('kernel_init', '?')}"


def start_table(rows: dict, sigma: float) -> tuple[str, str]:
  """The table of how each run starts (per model: PyTorch, ours with PyTorch's init, ours
  with Flax's init) and the sentence the numbers support."""
  level = (sigma / 255.0) ** 2
  cols = ["model", "run", "init", "loss step 0", "mean 0-9", "mean 40-49", "mean 90-99",
          "mean 190-199", "steps near σ² (10-step mean within ±20%)",
          "first step with 10-step mean < 0.5 σ²"]
  out, text = [], []
  for model in variants(rows):
    runs = []
    any_row = rows.get(f"{model}/copied") or rows.get(f"{model}/default")
    if any_row is None:
      continue
    runs.append(("PyTorch", "PyTorch default", any_row["torch_loss"]))
    if f"{model}/copied" in rows:
      runs.append(("ours", "PyTorch default (copied)", rows[f"{model}/copied"]["ours_loss"]))
    if f"{model}/default" in rows:
      runs.append(("ours", "Flax default", rows[f"{model}/default"]["ours_loss"]))
    stats = {}
    for run, init, loss in runs:
      x = np.asarray(loss, np.float64)
      means = np.convolve(x, np.ones(10) / 10, mode="valid") if len(x) >= 10 else x
      near = int(np.sum(np.abs(means / level - 1.0) <= 0.2)) if denoiser(model) else None
      below = parity.first_step_below(loss, 0.5 * level) if denoiser(model) else None
      stats[init] = (below, near, _mean(loss, len(loss) - 10, len(loss)))
      out.append([model, run, init, _f(x[0], 5), _f(_mean(x, 0, 10), 5), _f(_mean(x, 40, 50), 5),
                  _f(_mean(x, 90, 100), 5), _f(_mean(x, len(x) - 10, len(x)), 5),
                  "–" if near is None else str(near),
                  "–" if not denoiser(model) else ("never" if below is None else str(below))])
    if denoiser(model) and {"Flax default", "PyTorch default (copied)"} <= set(stats):
      (bf, nf, lf), (bp, npl, lp) = stats["Flax default"], stats["PyTorch default (copied)"]
      bt, nt, lt = stats["PyTorch default"]
      step = lambda b: "not within the run" if b is None else f"at step {b}"  # noqa: E731
      if bf is not None and bp is not None:
        verdict = (f"the Flax init starts {bf - bp} steps later" if bf > bp else
                   f"the Flax init is not slower ({bp - bf} steps earlier)" if bf < bp else
                   "both inits leave it at the same step")
      elif bf is None and bp is not None:
        verdict = "only the PyTorch init leaves it within the run: the init explains the slower start"
      elif bf is not None:
        verdict = "only the Flax init leaves it within the run"
      else:
        verdict = "neither init leaves it within the run"
      text.append(
          f"**{model} start (computed from the curves above).** σ² = {level:.5f} is the loss of the "
          f"identity map (output = noisy input). In our trainer, from Flax's default init the "
          f"10-step mean loss first falls below 0.5 σ² {step(bf)} ({nf} steps with the 10-step "
          f"mean within ±20% of σ²); from PyTorch's default init, same trainer, same batches, "
          f"{step(bp)} ({npl} steps near σ²); PyTorch's own loop {step(bt)} ({nt} steps near "
          f"σ²): {verdict}. Last-10-step mean loss: {lf:.5f} (Flax init) vs {lp:.5f} (PyTorch "
          f"init) in our trainer, {lt:.5f} in PyTorch.")
  table = common.markdown_table(cols, out) if out else ""
  return table, "\n\n".join(text)


def float32_floor(rows: dict, tol: float, labels: dict) -> str:
  """What float32 summation order alone does, from the runs: PyTorch float32 vs float64, and
  our trainer on oneDNN vs on XLA's kernels (same everything else), beside ours vs PyTorch."""
  out = []
  for m in variants(rows):
    if m.endswith(".f64"):
      continue  # float64_text
    a, b = rows.get(f"{m}/copied"), rows.get(f"{m}/copied_xla")
    z = rows.get(f"{m}/zoo")
    if z is not None:
      rz = parity.relative_diff(z["ours_loss"], z["torch_loss"])
      out.append(f"- **{labels.get(m, m)}, the zoo's init ({zoo_init_text(z)}) in both**: ours vs "
                 f"PyTorch: max {rz.max():.1e}, {_first_over(rz, tol)}, final PSNR "
                 f"{z['ours_psnr'] - z['torch_psnr']:+.3f} dB{perturbed_text(z, tol)}.")
    if a is None:
      continue
    rel = parity.relative_diff(a["ours_loss"], a["torch_loss"])
    parts = [f"ours vs PyTorch: max {rel.max():.1e}, {_first_over(rel, tol)}, "
             f"final PSNR {a['ours_psnr'] - a['torch_psnr']:+.3f} dB"]
    if b is not None:
      own = parity.relative_diff(b["ours_loss"], a["ours_loss"])
      parts.append(f"ours on XLA's kernels vs ours on oneDNN (one framework, two summation "
                   f"orders): max {own.max():.1e}, {_first_over(own, tol)}, final PSNR "
                   f"{b['ours_psnr'] - a['ours_psnr']:+.3f} dB")
    ctl = a.get("control_loss")
    if ctl and control_of(a) == "perturbed":
      parts.append(perturbed_text(a, tol).removeprefix("; "))
    elif ctl:
      n = len(ctl)
      t64 = parity.relative_diff(a["torch_loss"][:n], ctl)
      o64 = parity.relative_diff(a["ours_loss"][:n], ctl)
      parts.append(f"over the first {n} steps, PyTorch float32 vs PyTorch float64: max "
                   f"{t64.max():.1e} ({_first_over(t64, tol)}), ours vs PyTorch "
                   f"float64: max {o64.max():.1e} ({_first_over(o64, tol)})")
    out.append(f"- **{labels.get(m, m)}, same initial weights**: " + "; ".join(parts) + ".")
  if not out:
    return ""
  return ("**Float32 order (computed from the runs).** How far the curves move when only the "
          "float32 summation order changes, beside how far ours lies from PyTorch:\n\n"
          + "\n".join(out))


def control_of(r: dict) -> str:
  """A row's control: 'float64' (PyTorch float64) or 'perturbed' (PyTorch from perturbed
  weights; a float64 row's is always that)."""
  return r.get("control") or ("perturbed" if r.get("dtype") == "float64" else "float64")


def perturbed_text(r: dict, tol: float) -> str:
  """'; PyTorch against itself ...' for a row whose control is PyTorch from perturbed weights
  (`run.py --control=perturbed`, always for float64 rows), else ''."""
  ctl = r.get("control_loss")
  if not ctl or control_of(r) != "perturbed":
    return ""
  n = len(ctl)
  c_t = parity.relative_diff(r["torch_loss"][:n], ctl)
  c_o = parity.relative_diff(r["ours_loss"][:n], r["torch_loss"][:n])
  o_c = parity.relative_diff(r["ours_loss"][:n], ctl)
  ulps = f"2^{math.log2(parity.PERTURBATION[r.get('dtype', 'float32')]):.0f}"
  text = (f"; PyTorch against itself from the same weights x (1 ± {ulps}) (the control, {n} "
          f"steps): max {c_t.max():.1e} (steps 0-9: {c_t[:10].max():.1e}), "
          f"{_first_over(c_t, tol)}, last-step difference {c_t[-1]:.1e} (ours vs PyTorch: "
          f"{c_o[-1]:.1e}); ours vs the control: max {o_c.max():.1e}")
  if r.get("control_psnr") is not None:
    text += (f", final PSNR {r['control_psnr'] - r['torch_psnr']:+.3f} dB from PyTorch's (ours: "
             f"{r['ours_psnr'] - r['torch_psnr']:+.3f} dB)")
  if r.get("ours_control_psnr") is not None:
    oc = parity.relative_diff(r["ours_control_loss"], ctl)
    text += (f"; ours from the same perturbed weights: {oc.max():.1e} from the control at most, "
             f"final PSNR {r['ours_control_psnr']:.3f} against the control's "
             f"{r['control_psnr']:.3f} ({r['ours_control_psnr'] - r['control_psnr']:+.3f} dB). "
             f"Final PSNRs, two runs each: PyTorch {r['torch_psnr']:.3f} / "
             f"{r['control_psnr']:.3f}, ours {r['ours_psnr']:.3f} / {r['ours_control_psnr']:.3f}")
  return text


def float64_text(rows: dict, tol: float, labels: dict) -> str:
  """The float64 rows (`--dtype=float64`) beside the float32 row of the same model, init, steps
  and seed: the arithmetic without float32 rounding, and what float32 makes of it."""
  out = []
  for key, r in rows.items():
    v, init = key.split("/")
    if r.get("dtype") != "float64" or init not in ("copied", "zoo"):
      continue
    rel = parity.relative_diff(r["ours_loss"], r["torch_loss"])
    text = (f"- **{labels.get(v, v)}, init {init}**: ours vs PyTorch, "
            f"{len(rel)} steps: max relative difference {rel.max():.1e} (steps 0-9: "
            f"{rel[:10].max():.1e}), final PSNR {r['ours_psnr'] - r['torch_psnr']:+.4f} dB")
    f32 = rows.get(f"{v.removesuffix('.f64')}/{init}")
    if f32 is not None and len(f32["ours_loss"]) >= len(rel):
      r32 = parity.relative_diff(f32["ours_loss"][:len(rel)], f32["torch_loss"][:len(rel)])
      text += f"; the same comparison in float32: max {r32.max():.1e}, {_first_over(r32, tol)}"
    text += perturbed_text(r, tol)
    out.append(text + ".")
  if not out:
    return ""
  return ("**Float64 (computed from the runs).** Both frameworks in float64 from the same "
          "weights on the same batches: how far apart the two trainers' arithmetic is when "
          "float32 rounding is out of the way, beside how far PyTorch moves from itself when its "
          "starting weights change by a few float64 ulps:\n\n" + "\n".join(out))


def plot(rows: dict, png: Path, tol: float) -> Path:
  from enhance_jax import plots
  plt = plots._plt()  # noqa: SLF001  (the package's Agg setup)
  models = [m for m in variants(rows)
            if any(f"{m}/{i}" in rows for i in ("copied", "default", "zoo"))]
  fig, axes = plt.subplots(len(models), 3, figsize=(15, 3.6 * len(models)), squeeze=False)
  for ax_row, m in zip(axes, models):
    copied, default = rows.get(f"{m}/copied"), rows.get(f"{m}/default")
    zoo = rows.get(f"{m}/zoo")
    any_row = copied or default or zoo
    steps = np.arange(len(any_row["torch_loss"]))
    ax = ax_row[0]
    if copied or default:
      ax.plot(steps, any_row["torch_loss"], color="C0", lw=1.2, label="PyTorch")
    if copied:
      ax.plot(steps, copied["ours_loss"], color="C1", lw=1.0, ls="--", label="ours")
    if zoo:
      ax.plot(steps, zoo["torch_loss"], color="C6", lw=1.2, label="PyTorch (zoo init)")
      ax.plot(steps, zoo["ours_loss"], color="C7", lw=1.0, ls="--", label="ours (zoo init)")
    ax.set_title(f"{m}: same initial weights" + (" (PyTorch's; the zoo's)" if zoo else
                                                 " (PyTorch's)"))
    ax = ax_row[1]
    if copied or default:
      ax.plot(steps, any_row["torch_loss"], color="C0", lw=1.2, label="PyTorch (PyTorch init)")
    if default:
      ax.plot(steps, default["ours_loss"], color="C2", lw=1.2, label="ours (Flax init)")
    if copied:
      ax.plot(steps, copied["ours_loss"], color="C1", lw=0.8, ls="--",
              label="ours (PyTorch init)")
    if denoiser(m):
      ax.axhline((25 / 255) ** 2, color="gray", lw=0.8, ls=":", label="σ² (identity map)")
    ax.set_title(f"{m}: each framework's default init")
    for ax in ax_row[:2]:
      ax.set_yscale("log")
      ax.set_xlabel("step")
      ax.set_ylabel("training loss (MSE)")
      ax.legend(fontsize=8)
    ax = ax_row[2]
    if copied:
      ax.plot(steps, np.maximum(parity.relative_diff(copied["ours_loss"], copied["torch_loss"]),
                                1e-9), color="C1", lw=1.0, label="ours vs PyTorch")
      ctl = copied.get("control_loss")
      if ctl:
        n = len(ctl)
        ax.plot(steps[:n], np.maximum(parity.relative_diff(copied["torch_loss"][:n], ctl), 1e-9),
                color="C3", lw=1.0, ls="--", label="PyTorch float32 vs PyTorch float64")
        ax.plot(steps[:n], np.maximum(parity.relative_diff(copied["ours_loss"][:n], ctl), 1e-9),
                color="C4", lw=0.8, ls=":", label="ours vs PyTorch float64")
      xla = rows.get(f"{m}/copied_xla")
      if xla:
        ax.plot(steps, np.maximum(parity.relative_diff(xla["ours_loss"], copied["ours_loss"]),
                                  1e-9), color="C5", lw=0.8, label="ours XLA vs ours oneDNN")
    if zoo:
      ax.plot(steps, np.maximum(parity.relative_diff(zoo["ours_loss"], zoo["torch_loss"]),
                                1e-9), color="C7", lw=1.0, label="ours vs PyTorch, zoo init")
    if copied or zoo:
      ax.axhline(tol, color="gray", lw=0.8, ls=":", label=f"{tol:g}")
      ax.set_yscale("log")
      ax.legend(fontsize=8)
    ax.set_title(f"{m}: per-step relative loss difference (same init)")
    ax.set_xlabel("step")
  return plots._save(fig, png)  # noqa: SLF001


def write(rows: dict, md: Path, png: Path, tol: float, psnr_tol: float, sigma: float,
          labels: dict) -> Path:
  from enhance_jax.training import logs
  order = [f"{m}/{i}" for m in variants(rows) for i in ("copied", "default", "copied_xla", "zoo")
           if f"{m}/{i}" in rows]
  cols = ["model", "initial weights", "steps x batch", "max rel. diff, steps 0-9",
          "max rel. diff, all steps", f"first step > {tol:g}",
          "max rel. diff from the control (PyTorch float64, or PyTorch from perturbed weights): "
          "ours / PyTorch",
          "PSNR ours", "PSNR PyTorch", "Δ dB", "PSNR input / bicubic", "train s ours / PyTorch",
          "result"]
  table = common.markdown_table(cols, [parity_row(rows[k], tol, psnr_tol, sigma) for k in order])
  start, start_text = start_table(rows, sigma)
  floor_text = float32_floor(rows, tol, labels)
  f64_text = float64_text(rows, tol, labels)
  plot(rows, png, tol)
  any_row = rows[order[0]]
  tiny = any(rows[k].get("tiny") for k in order)
  date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  dn = next((rows[k] for k in order if denoiser(k.split("/")[0])), None)
  sr = next((rows[k] for k in order if not denoiser(k.split("/")[0])), None)
  dn_arch = ", ".join(sorted({f"{rows[k]['config']['model'].get('depth', 17)} layers x "
                              f"{rows[k]['config']['model'].get('features', 64)} "
                              f"(row {k.split('/')[0]})" for k in order
                              if denoiser(k.split('/')[0])}))
  evals = []
  if dn:
    evals.append(f"DnCNN: the first {dn['eval_images']} BSD68 images, AWGN σ={sigma:g} (numpy "
                 "seed 1, not clipped), output clipped and rounded to 8 bits, PSNR on the full "
                 "image")
  if sr:
    evals.append(f"SRCNN: Set5 x3 ({sr['eval_images']} images; the LR PNGs MATLAB-bicubic "
                 "upsampled, Y of MATLAB rgb2ycbcr), output Y rounded to 8 bits, 3 px shaved; "
                 "the last column is the bicubic input's PSNR")
  commands = "\n".join(f"- {labels.get(k.split('/')[0], k.split('/')[0])}, init "
                       f"{rows[k]['init']}: `{rows[k]['command']}`" for k in order)
  text = f"""# Training parity: our trainer vs a KAIR-style PyTorch loop

Generated by `{common.command()}` on {date}; rows from `{md.with_suffix('.json').name}` (per-step
losses of every run).{' **--tiny: a dry run, the numbers mean nothing.**' if tiny else ''}

Our side is the trainer's own code: `tasks.build(config)` (the shipped config
`dncnn_s25_train400` / `pretrained/srcnn_955_x3` with the overrides below) gives the optimizer,
the loss and `steps.train_step`, jitted with the state donated as the loop does. The PyTorch side
is a KAIR-style loop (zero_grad, forward, loss, backward, Adam step) on the modules of
`experiments/benchmarks/torch_reference.py`. Both see the same numpy batches in the same order
(crops, flips/rotations and noise drawn once with numpy seed {any_row['seed']}). Matched: MSE
loss, the mean over pixels (our `l2`, `F.mse_loss`; not KAIR's sum); Adam with b1 0.9, b2 0.999,
eps 1e-8, no weight decay, no gradient clipping; the learning rate of step i is our schedule's
value, set on the torch param group each step; BatchNorm momentum 0.9 (Flax) = 0.1 (PyTorch),
eps 1e-5 (KAIR's own DnCNN uses PyTorch momentum 0.9, eps 1e-4; we match our model, not KAIR's);
float32 (rows `*.f64`: float64 in both, `--dtype=float64`: ours under `jax_enable_x64`,
PyTorch `.double()`), `torch.use_deterministic_algorithms(True)`, 2 torch threads; Adam's bias
corrections 1 - β^t exact in both (ours: `optim.scale_by_adam`, -expm1(t log β) with log β in
float64, in the moments' dtype; optax's own float32 1 - β^t is 1.3e-5 relative off at t = 1).
Weights are copied PyTorch -> Flax with the
KAIR/SaoYan importer's mapping (`importers.sequential_variables`, OIHW -> HWIO), and Flax ->
PyTorch by its inverse for the zoo init (`parity.load_torch_from_flax`, checked by a round trip).
Not matched: PyTorch's BN running variance is the unbiased one (x n/(n-1), n = 25,600 values
per channel at batch 16 of 40x40: 4e-5), Flax keeps the biased one (eval only).

- DnCNN ({dn_arch}): BN, no bias, residual; Train400 40x40 patches, AWGN σ=25 (not clipped);
  Adam, learning rate 1e-3 along the config's cosine to 1e-4 over the run.
- SRCNN 9-5-5 (64-32, replicate padding), Y channel: 33x33 patches of BSDS500 train (Y of
  MATLAB rgb2ycbcr, cropped to a multiple of 3, MATLAB-bicubic down x3 and up x3); Adam, constant
  learning rate 1e-3.
- Init "copied": PyTorch's default init (kaiming_uniform(a=√5) kernels, uniform biases, torch
  seed {any_row['seed']}) in both frameworks. Init "default": ours starts from its own default
  (Flax lecun_normal: truncated normal of variance 1/fan_in, zero biases, config.seed
  {any_row['seed']}): √3 times PyTorch's weight std (variance 1/(3 fan_in)). PyTorch's run is the
  same in both modes. Init "zoo": the initialisation the zoo's configs train with (DnCNN-S:
  Flax lecun_normal x 0.0125, zoo/dncnn_s25; SRCNN: the identity init, zoo/srcnn_x3), made by
  our model with config.seed {any_row['seed']} and copied into PyTorch, which trains from it.
- The control: PyTorch trained again in float64 (same weights, same batches; the first
  {any_row.get('control_steps', 0)} steps), the run without float32 rounding. PyTorch float32's
  distance from it is what float32 rounding alone does to the curve; ours is measured against it
  too. (A channels_last PyTorch run is no such control: its losses were bit-identical.) In the
  `.f64` rows the control is PyTorch float64 again from the same weights each multiplied by
  1 ± 2^-50 (random signs): how far a rounding-sized difference grows by the dynamics alone.
- Final PSNR with our `metrics.image_quality` for both frameworks' outputs, eval mode (BN running
  statistics). {'; '.join(evals)}.

The issue's bar: per-step loss within {tol:g} relative for every step, or, where float32
ordering makes the curves drift, final PSNR within {psnr_tol:g} dB.

{table}
{floor_text}

{f64_text}

![loss curves](parity.png)

Per-step training loss (MSE; the loss of step i is that of batch i before update i):

{start}
{start_text}

### Re-make a row

Each command re-trains both frameworks for its row and rewrites this file from the JSON (the
other rows are kept):

{commands}
"""
  logs.write_text(md, text)
  print(f"wrote {md} and {png}", flush=True)
  return md
