"""The accelerator run: one call on the GPU machine, in phases, under one time budget.

  experiments/accelerator/run.sh OUT                 # the GPU run (about 7 minutes)
  experiments/accelerator/run.sh OUT --cpu_dry_run   # every phase at tiny sizes, here

Phases (each a child process, so one failure or hang costs only its own time slice):
  env     versions (jax, jaxlib, flax, optax, orbax, grain, torch, ...), devices,
          nvidia-smi, and whether pyproject.toml's pins admit the installed versions.
  peak    measured matmul GFLOP/s, float32 and bfloat16, JAX and PyTorch
          (experiments/benchmarks/common.matmul_peak).
  step    our jitted train step beside the same PyTorch module on the same device
          (experiments/benchmarks/train_step.py): ours bf16 vs PyTorch bf16 autocast, ours
          f32 vs PyTorch f32; DnCNN and SRCNN at batch 128 of 40x40, U-Net and the full
          MIRNet at batch 16 of 128x128; GFLOP/s against the peak of the step's dtype.
  loader  the trainer's own `pipeline.train_batches` on Train400 (40x40, batch 128) with
          0..N worker processes (experiments/benchmarks/input_pipeline.py), beside the
          patches/s the DnCNN bf16 step consumes.
  train   DnCNN-S σ=25 on Train400 at the paper's recipe
          (enhance_jax/configs/dncnn_s25_train400.py) through `python -m enhance_jax.train`,
          its schedule compressed into the steps the remaining budget affords (measured
          step time), stopped by SIGTERM (a checkpoint, then exit) if it overruns; then
          `python -m enhance_jax.evaluate` scores all of BSD68 σ=25.
Everything lands in OUT/accelerator.json (written after each phase, so a kill keeps what
finished); run.sh also tees the log to OUT/run.log. Work files (checkpoints, per-job
JSON) go to --scratch, never to OUT (the device tool returns at most 8 files).
Data: $ENHANCE_JAX_DATA (train400/, bsd68/).
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "experiments" / "benchmarks"
PHASES = ("env", "peak", "step", "loader", "train")

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Output folder (accelerator.json).", required=True)
flags.DEFINE_bool("cpu_dry_run", False, "Every phase at tiny sizes on the CPU (minutes).")
flags.DEFINE_float("budget_s", None, "Whole-run wall-clock budget (default 420 GPU, 150 dry).")
flags.DEFINE_float("step_s", None, "Budget of the step phase (default 150 GPU, 45 % of "
                   "--budget_s dry).")
flags.DEFINE_float("loader_s", None, "Budget of the loader phase (default 40 GPU, 20 % of "
                   "--budget_s dry).")
flags.DEFINE_float("eval_reserve_s", None, "Kept back for the BSD68 evaluation (default 45).")
flags.DEFINE_list("phases", list(PHASES), "Phases to run, in this order.")
flags.DEFINE_list("loader_workers", None, "Worker counts the loader phase tries "
                  "(default 0,4,8,15 GPU; 0,2 dry).")
flags.DEFINE_string("scratch", None, "Work folder (default: a fresh temporary folder).")
flags.DEFINE_string("dtype", "bfloat16", "Compute dtype of the DnCNN training run.")
flags.DEFINE_string("_child", None, "Internal: run one phase's body in this process.")


def now_utc() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


class Run:
  """Budget, child processes and the one results file."""

  def __init__(self, out: Path, scratch: Path, budget: float, dry: bool):
    self.out, self.scratch, self.dry = out, scratch, dry
    self.t0 = time.monotonic()
    self.deadline = self.t0 + budget
    self.results = {"command": " ".join(sys.argv), "started_utc": now_utc(),
                    "mode": "cpu_dry_run" if dry else "accelerator", "budget_s": budget,
                    "phases": {}}
    # Children see the machine's own devices (not a test session's forced CPU device count).
    xla = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                   if not f.startswith("--xla_force_host_platform_device_count"))
    self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "XLA_FLAGS": xla,
                "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # JAX and PyTorch share the GPU
                "TFDS_DATA_DIR": str(scratch / "tfds"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                            os.environ.get("PYTHONPATH")]))}

  def left(self) -> float:
    return self.deadline - time.monotonic()

  def save(self) -> None:
    self.results["elapsed_s"] = round(time.monotonic() - self.t0, 1)
    path = self.out / "accelerator.json"
    tmp = path.with_name(".accelerator.json.tmp")
    tmp.write_text(json.dumps(self.results, indent=1, default=str) + "\n")
    os.replace(tmp, path)

  def call(self, args: list[str], timeout: float, name: str) -> dict:
    """Runs `python args` (output streamed to our log); stops it with SIGTERM at
    `timeout` (SIGKILL 30 s later). Returns {rc, seconds, timed_out}."""
    t = time.monotonic()
    print(f"\n=== {name}: {' '.join(args)} (limit {timeout:.0f} s)", flush=True)
    proc = subprocess.Popen([sys.executable, *args], cwd=REPO, env=self.env,
                            start_new_session=True)
    timed_out = False
    try:
      proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
      timed_out = True
      os.killpg(proc.pid, signal.SIGTERM)
      try:
        proc.wait(timeout=30)
      except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {"rc": proc.returncode, "seconds": round(time.monotonic() - t, 1),
            "timed_out": timed_out}


def _read(path: Path):
  return json.loads(path.read_text()) if path.is_file() else None


# ----------------------------------------------------------------------------- phases

def phase_env(run: Run) -> dict:
  out = run.scratch / "env.json"
  info = run.call([__file__, f"--out={run.out}", "--_child=env", f"--scratch={out}"],
                  min(120, run.left()), "env")
  return {**info, **(_read(out) or {})}


def child_env(path: Path) -> None:
  """Versions, devices, GPU and the pins check, as JSON at `path`."""
  import platform
  names = ("jax", "jaxlib", "jax-cuda13-plugin", "flax", "optax", "orbax-checkpoint", "grain",
           "tensorflow-datasets", "dm-pix", "ml-collections", "numpy", "torch", "chex",
           "array-record", "tensorboardX")
  from enhance_jax.training import logs
  versions = logs.package_versions(names)
  info = {"python": platform.python_version(), "versions": versions,
          "cpus": len(os.sched_getaffinity(0)), "loadavg_1m": os.getloadavg()[0]}
  try:
    import tomllib
    from packaging.requirements import Requirement
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for d in deps:
      r = Requirement(d)
      have = versions.get(r.name) or logs.package_versions([r.name])[r.name]
      pins[d] = {"installed": have, "admitted": None if have is None else
                 r.specifier.contains(have, prereleases=True)}
    info["pins"] = pins
  except Exception as e:  # noqa: BLE001 - recorded, not fatal
    info["pins_error"] = repr(e)
  try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,"
                          "clocks.max.sm", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
  except (OSError, subprocess.TimeoutExpired) as e:
    info["nvidia_smi"] = repr(e)
  import jax
  info["jax_backend"] = jax.default_backend()
  info["devices"] = [str(d) for d in jax.devices()]
  info["device_kind"] = jax.devices()[0].device_kind
  try:
    import torch
    info["torch_cuda"] = torch.cuda.is_available()
    if torch.cuda.is_available():
      info["torch_device"] = torch.cuda.get_device_name(0)
    info["torch_tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                          "cudnn": torch.backends.cudnn.allow_tf32}
  except ImportError:
    info["torch_cuda"] = None
  info["jax_default_matmul_precision"] = str(jax.config.jax_default_matmul_precision)
  path.write_text(json.dumps(info, indent=1, default=str))



def phase_peak(run: Run) -> dict:
  out = run.scratch / "peak.json"
  info = run.call([__file__, f"--out={run.out}", "--_child=peak", f"--scratch={out}"]
                  + (["--cpu_dry_run"] if run.dry else []), min(120, run.left()), "peak")
  return {**info, **(_read(out) or {})}


def child_peak(path: Path, dry: bool) -> None:
  sys.path.insert(0, str(BENCH))
  import common
  import jax
  torch = common.import_torch(2)
  device = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
  n = 256 if dry else 8192
  out = {"n": n, "torch_device": device, "jax_backend": jax.default_backend()}
  for dtype in ("float32", "bfloat16"):
    out[dtype] = common.matmul_peak(torch, n=n, rounds=2 if dry else 5, dtype=dtype,
                                    device=device)
  path.write_text(json.dumps(out, indent=1))


def step_jobs(dry: bool) -> list[dict]:
  """train_step.py invocations: bf16 pairs first (training sizes its run from DnCNN bf16)."""
  if dry:
    tiny = ["--tiny", "--batch=2", "--size=16", "--mirnet_batch=1", "--rounds=1", "--steps=1",
            "--warmup=0"]
    return [dict(name="dncnn_bf16", dtype="bfloat16", models="dncnn", args=tiny, limit=60),
            dict(name="all_f32", dtype="float32", models="dncnn,unet,srcnn,mirnet", args=tiny,
                 limit=90)]
  small = ["--batch=128", "--size=40", "--rounds=5", "--steps=10", "--warmup=3"]
  large = ["--batch=16", "--mirnet_batch=16", "--size=128", "--mirnet_full", "--rounds=3",
           "--steps=5", "--warmup=2"]
  return [dict(name="dncnn_srcnn_bf16", dtype="bfloat16", models="dncnn,srcnn", args=small,
               limit=60),
          dict(name="dncnn_srcnn_f32", dtype="float32", models="dncnn,srcnn", args=small,
               limit=50),
          dict(name="unet_mirnet_bf16", dtype="bfloat16", models="unet,mirnet", args=large,
               limit=90),
          dict(name="unet_mirnet_f32", dtype="float32", models="unet,mirnet", args=large,
               limit=90)]


def phase_step(run: Run, budget: float, peak: dict) -> dict:
  end = min(run.deadline, time.monotonic() + budget)
  device = "cpu" if run.dry else "cuda"
  jobs = {}
  for job in step_jobs(run.dry):
    left = end - time.monotonic()
    if left < 15:
      jobs[job["name"]] = {"skipped": f"step-phase budget spent ({budget:.0f} s)"}
      continue
    out = run.scratch / f"step_{job['name']}.json"
    args = [str(BENCH / "train_step.py"), f"--models={job['models']}", f"--dtype={job['dtype']}",
            f"--torch_dtype={job['dtype']}", f"--device={device}", "--nopeak",
            f"--output={out}", *job["args"]]
    # Dry runs: only the phase budget limits a job (a loaded CPU is slow to compile).
    info = run.call(args, left if run.dry else min(job["limit"], left), f"step {job['name']}")
    res = _read(out) or {}
    rows = res.get("rows", [])
    ceiling = max((peak.get(job["dtype"]) or {}).values(), default=None)
    for r in rows:
      r["dtype"] = job["dtype"]
      if ceiling:
        for k in ("ours", "torch"):
          if f"{k}_GFLOP/s" in r:
            r[f"{k}_fraction_of_peak"] = r[f"{k}_GFLOP/s"] / ceiling
    jobs[job["name"]] = {**info, "args": args[1:], "peak_gflops_used": ceiling, "rows": rows,
                         "machine": res.get("machine")}
    run.results["phases"]["step"] = {"jobs": jobs}
    run.save()
  return {"jobs": jobs}


def dncnn_step_s(step: dict) -> float | None:
  """Our bf16 (else f32) DnCNN step time from the step phase."""
  for dtype in ("bfloat16", "float32"):
    for job in step.get("jobs", {}).values():
      for r in job.get("rows", []):
        if r.get("model") == "dncnn" and r.get("dtype") == dtype and r.get("ours_s"):
          return float(r["ours_s"])
  return None


def phase_loader(run: Run, budget: float, step_s: float | None) -> dict:
  end = min(run.deadline, time.monotonic() + budget)
  workers = [int(w) for w in (FLAGS.loader_workers or (["0", "2"] if run.dry
                                                       else ["0", "4", "8", "15"]))]
  seconds = 1.0 if run.dry else 4.0
  batch = 8 if run.dry else 128
  out = {"batch": batch, "patch": 40, "runs": {}}
  if step_s:
    out["dncnn_step_consumes_patches_per_s"] = batch / step_s if not run.dry else None
  for w in workers:
    left = end - time.monotonic()
    if left < 10:
      out["runs"][str(w)] = {"skipped": f"loader-phase budget spent ({budget:.0f} s)"}
      continue
    path = run.scratch / f"loader_{w}.json"
    args = [str(BENCH / "input_pipeline.py"), "--preset=train400", "--steps=0",
            f"--batch={batch}", f"--workers={w}", f"--seconds={seconds}", f"--output={path}"]
    info = run.call(args, left if run.dry else min(60, left), f"loader workers={w}")
    res = _read(path) or {}
    out["runs"][str(w)] = {**info, **res.get("loader", {}),
                           "loadavg_1m": (res.get("machine") or {}).get("loadavg_1m")}
    run.results["phases"]["loader"] = out
    run.save()
  return out


def choose_workers(loader: dict) -> int:
  """Fewest workers whose loader outran the DnCNN step by 30 %, else the fastest tried."""
  need = loader.get("dncnn_step_consumes_patches_per_s")
  rates = {int(w): r["patches_per_s"] for w, r in loader.get("runs", {}).items()
           if r.get("patches_per_s")}
  if not rates:
    return 0 if FLAGS.cpu_dry_run else 8
  if need:
    enough = [w for w, v in sorted(rates.items()) if v >= 1.3 * need]
    if enough:
      return enough[0]
  return max(rates, key=rates.get)


def phase_train(run: Run, step_s: float | None, workers: int, reserve: float) -> dict:
  work = run.scratch / "dncnn_s25"
  out = {"workdir": str(work), "workers": workers, "dtype": FLAGS.dtype}
  startup = 20.0 if run.dry else 60.0  # process start, TFDS preparation, compile, final eval
  available = run.left() - reserve - startup
  if run.dry:
    steps, profile = 6, "cpu"
  else:
    profile = "paper"
    # Effective step: the slower of the device step and the loader's batch time.
    loader_rate = (run.results["phases"].get("loader", {}).get("runs", {})
                   .get(str(workers), {}).get("patches_per_s"))
    eff = max([t for t in (step_s, 128 / loader_rate if loader_rate else None) if t]
              or [0.05])  # no measurement: assume 50 ms
    steps = int(min(80_000, max(100, 0.85 * available / eff)))
    out["effective_step_s"] = eff
  out.update(steps=steps, profile=profile, train_seconds_planned=round(available, 1))
  arg = f"profile={profile},steps={steps},dtype={FLAGS.dtype},workers={workers}"
  args = ["-m", "enhance_jax.train", f"--config=dncnn_s25_train400:{arg}", f"--workdir={work}"]
  out["train"] = run.call(args, max(run.left() - reserve, 30), "train")
  out["train"]["args"] = args
  metrics = work / "metrics.jsonl"
  if metrics.is_file():
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    train_rows = [r for r in rows if r.get("split") == "train"]
    out["steps_done"] = max((r["step"] for r in train_rows), default=0)
    out["loss_curve"] = [(r["step"], r["loss"]) for r in train_rows][-40:]
    rates = [r.get("steps_per_s") for r in train_rows if r.get("steps_per_s")]
    out["steps_per_s_last"] = rates[-1] if rates else None
  run.results["phases"]["train"] = out
  run.save()
  keys = ("psnr", "ssim", "input_psnr", "num_images", "weights")
  # A run that finished scored BSD68 at its last step (config.evals); a stopped one did not.
  in_run = ((_read(work / "eval_metrics.json") or {}).get("bsd68_s25")
            if out["train"]["rc"] == 0 and not out["train"]["timed_out"] else None)
  if in_run:
    out["bsd68_s25"] = {**{k: in_run.get(k) for k in keys}, "by": "the run's last-step eval"}
  if in_run is None or run.dry:  # dry runs exercise the evaluate entry point too
    result = run.scratch / "bsd68.json"
    ev = ["-m", "enhance_jax.evaluate", f"--workdir={work}", f"--output_json={result}"]
    out["evaluate"] = run.call(ev, max(run.left(), 30), "evaluate BSD68")
    out["evaluate"]["args"] = ev
    bsd = (_read(result) or {}).get("bsd68_s25", {})
    out["bsd68_s25" if in_run is None else "bsd68_s25_evaluate"] = {
        **{k: bsd.get(k) for k in keys}, "by": "python -m enhance_jax.evaluate"}
  return out


# ----------------------------------------------------------------------------- main

def main(argv):
  del argv
  if FLAGS._child == "env":
    return child_env(Path(FLAGS.scratch))
  if FLAGS._child == "peak":
    return child_peak(Path(FLAGS.scratch), FLAGS.cpu_dry_run)
  dry = FLAGS.cpu_dry_run
  out = Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  scratch = Path(FLAGS.scratch or tempfile.mkdtemp(prefix="ej_accel_"))
  scratch.mkdir(parents=True, exist_ok=True)
  budget = FLAGS.budget_s or (150 if dry else 420)
  run = Run(out, scratch, budget, dry)
  run.results["data"] = os.environ.get("ENHANCE_JAX_DATA")
  unknown = set(FLAGS.phases) - set(PHASES)
  if unknown:
    raise app.UsageError(f"--phases: unknown {sorted(unknown)}; use {','.join(PHASES)}.")
  reserve = FLAGS.eval_reserve_s or (20 if dry else 45)
  step, peak, workers = {}, {}, 0 if dry else 8
  for name in FLAGS.phases:
    t = time.monotonic()
    if name == "env":
      result = phase_env(run)
    elif name == "peak":
      result = peak = phase_peak(run)
    elif name == "step":
      result = step = phase_step(run, FLAGS.step_s or (0.45 * budget if dry else 150), peak)
    elif name == "loader":
      result = phase_loader(run, FLAGS.loader_s or (0.2 * budget if dry else 40),
                            dncnn_step_s(step))
      workers = choose_workers(result)
    else:
      result = phase_train(run, dncnn_step_s(step), workers, reserve)
    result["phase_s"] = round(time.monotonic() - t, 1)
    run.results["phases"][name] = result
    run.save()
  run.results["finished_utc"] = now_utc()
  run.save()
  print(f"\nwrote {out / 'accelerator.json'} ({run.results['elapsed_s']} s)", flush=True)


if __name__ == "__main__":
  app.run(main)
