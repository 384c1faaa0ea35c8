"""Run logs: JSON lines, TensorBoard events and a progress line (process 0 only)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np


def write_text(path: str | Path, text: str) -> Path:
  """Writes `text` to `path`; the file appears only when complete."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  tmp.write_text(text)
  os.replace(tmp, path)
  return path


def write_json(path: str | Path, obj) -> Path:
  """Writes `obj` as indented JSON; the file appears only when complete."""
  return write_text(path, json.dumps(obj, indent=2) + "\n")


_VERSIONED = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "enhance_jax")


def _git_commit() -> str | None:
  """HEAD of the git checkout holding this package (None when installed or no git)."""
  import subprocess
  package = Path(__file__).resolve().parents[1]
  try:
    out = subprocess.run(["git", "-C", str(package), "ls-files", "--error-unmatch", "-s",
                          "__init__.py"], capture_output=True, text=True, timeout=10)
    if out.returncode:  # not a tracked file of a checkout (e.g. site-packages in a venv)
      return None
    out = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True,
                         text=True, timeout=10)
  except (OSError, subprocess.TimeoutExpired):
    return None
  return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def package_versions(names) -> dict[str, str | None]:
  """{distribution: installed version, or None when it is not installed}."""
  from importlib import metadata
  versions = {}
  for dist in names:
    try:
      versions[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
      versions[dist] = None
  return versions


def run_start_info(start_step: int) -> dict:
  """What started this run: command line, git commit (when run from a
  checkout), package versions, devices, UTC start time and the start step."""
  import datetime
  versions = package_versions(_VERSIONED)
  d = jax.devices()
  info = {"argv": list(sys.argv), "start_time": datetime.datetime.now(
      datetime.timezone.utc).isoformat(timespec="seconds"), "start_step": int(start_step)}
  commit = _git_commit()
  if commit:
    info["git_commit"] = commit
  info["versions"] = versions
  info["devices"] = {"platform": d[0].platform, "kind": d[0].device_kind, "count": len(d),
                     "process_count": jax.process_count()}
  return info


def record_run_start(workdir: str | Path, start_step: int) -> Path:
  """Appends `run_start_info` to `<workdir>/run_info.json` ({"starts": [...]},
  one entry per start or resume, earlier ones kept)."""
  path = Path(workdir) / "run_info.json"
  starts = []
  if path.is_file():
    try:
      starts = list(json.loads(path.read_text()).get("starts", []))
    except (ValueError, AttributeError):  # unreadable: keep it beside the new file
      os.replace(path, path.with_name(f"run_info.unreadable.{int(time.time())}.json"))
  return write_json(path, {"starts": starts + [run_start_info(start_step)]})


def _fmt_time(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class MetricWriter:
  """Appends `{"step": s, "split": ..., **metrics}` to metrics.jsonl (plus
  `"name": <set>` for a named evaluation set) and writes the same scalars to
  TensorBoard under `<split>/<metric>` (`<split>/<set>/<metric>`). No-op off
  process 0."""

  def __init__(self, workdir: str | Path, tensorboard: bool = True):
    self.active = jax.process_index() == 0
    self.workdir = Path(workdir)
    self.path = self.workdir / "metrics.jsonl"
    self._tb = None
    if self.active:
      self.workdir.mkdir(parents=True, exist_ok=True)
      if tensorboard:
        from tensorboardX import SummaryWriter
        self._tb = SummaryWriter(str(self.workdir / "tensorboard"))

  def write(self, step: int, split: str, metrics: dict, name: str | None = None) -> None:
    if not self.active:
      return
    clean = {k: float(np.asarray(v)) for k, v in metrics.items()}
    head = {"step": int(step), "split": split, **({"name": name} if name else {})}
    with open(self.path, "a") as f:
      f.write(json.dumps({**head, **clean}) + "\n")
    if self._tb is not None:
      prefix = f"{split}/{name}" if name else split
      for k, v in clean.items():
        self._tb.add_scalar(f"{prefix}/{k}", v, int(step))
      self._tb.flush()

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    """Writes an HWC float image in [0, 1] to TensorBoard under `tag` (e.g. the eval grid)."""
    if self._tb is not None:
      self._tb.add_image(tag, np.clip(np.asarray(image, np.float32), 0.0, 1.0), int(step),
                         dataformats="HWC")
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


# Shown on the progress line (GAN runs: both losses, D's mean output on real
# and fake, both learning rates); every metric goes to the MetricWriter.
_SHOWN = ("loss", "g_loss", "d_loss", "d_real", "d_fake", "psnr", "learning_rate",
          "d_learning_rate")


class Progress:
  """'step 120/400 | loss 0.0345 | 3.2 steps/s | ETA 1m27s' on stdout."""

  def __init__(self, total: int, start: int):
    self.total, self.start = total, start
    self.t0 = time.perf_counter()
    self.last_t, self.last_step = self.t0, start
    self.active = jax.process_index() == 0

  def update(self, step: int, metrics: dict) -> float:
    """Prints the line; returns steps/s since the previous update."""
    now = time.perf_counter()
    rate = (step - self.last_step) / max(now - self.last_t, 1e-9)
    self.last_t, self.last_step = now, step
    if self.active:
      shown = " | ".join(f"{k} {float(v):.4g}" for k, v in metrics.items()
                         if k in _SHOWN)
      eta = (self.total - step) / rate if rate > 0 else float("inf")
      print(f"step {step}/{self.total} | {shown} | {rate:.2f} steps/s | ETA {_fmt_time(eta)}",
            flush=True, file=sys.stdout)
    return rate


class Ticker:
  """Progress with ETA of a loop over `total` units (images), for evaluate and enhance.

  On a terminal (`stream.isatty()`, process 0): '<label> 5/12 images | 2.10 images/s | ETA 3s
  | <note>' at most once per `every` seconds (and at the end). Not on a terminal (a log file, a
  pipe, a test): the same line at most once per `log_every` seconds, the first after
  `log_every` seconds (a loop shorter than that prints none), then `finish`'s one summary line
  '<label>: 12 images in 5.7s (2.10 images/s)'. Lines go to `stream` (default stderr), so
  stdout stays the results.
  `done` may be fractional (image 3 half done = 2.5) for a smoother ETA.
  """

  def __init__(self, label: str, total: int, unit: str = "images", stream=None,
               every: float = 1.0, interactive: bool | None = None, clock=time.monotonic,
               log_every: float = 30.0):
    self.label, self.total, self.unit, self.clock = label, total, unit, clock
    self.stream = stream if stream is not None else sys.stderr
    self.active = jax.process_index() == 0
    if interactive is None:
      isatty = getattr(self.stream, "isatty", None)
      interactive = bool(isatty and isatty())
    self.interactive = interactive
    self.every = every if interactive else log_every
    self.t0 = clock()
    self.last = -math.inf if interactive else self.t0
    self.lines = 0

  def update(self, done: float, note: str = "") -> None:
    now = self.clock()
    if not self.active or now - self.last < self.every:
      if not (self.active and self.interactive and done >= self.total):
        return
    self.last = now
    rate = done / max(now - self.t0, 1e-9)
    eta = (self.total - done) / rate if rate > 0 else float("inf")
    shown = int(done) if float(done).is_integer() else f"{done:.1f}"
    text = (f"{self.label} {shown}/{self.total} {self.unit} | {rate:.2f} {self.unit}/s | "
            f"ETA {_fmt_time(eta)}" + (f" | {note}" if note else ""))
    print(text, file=self.stream, flush=True)
    self.lines += 1

  def finish(self, note: str = "") -> None:
    """The one summary line (always, on process 0)."""
    if not self.active:
      return
    seconds = self.clock() - self.t0
    rate = self.total / max(seconds, 1e-9)
    print(f"{self.label}: {self.total} {self.unit} in {seconds:.1f}s ({rate:.2f} {self.unit}/s)"
          + (f"; {note}" if note else ""), file=self.stream, flush=True)
