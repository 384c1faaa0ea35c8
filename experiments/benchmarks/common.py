"""Shared helpers of the benchmarks: threads, resident memory,
alternating timers, the machine's matmul peak and table printing.

Nothing here imports torch at module level: PyTorch is an optional benchmark
dependency (`pip install torch==2.13.0`, the CPU build). FLOP and parameter
counts are `enhance_jax.models.complexity`.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

# Before anything initialises JAX's backend: sets the package's default XLA
# settings (enhance_jax/cpu_defaults.py) unless ENHANCE_JAX_NO_CPU_DEFAULTS=1.
import enhance_jax  # noqa: E402,F401


# ----------------------------------------------------------------------------- machine

def machine() -> dict:
  """CPU model, core count, flags of note, JAX/torch versions, XLA_FLAGS, date."""
  info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
          "python": platform.python_version(), "cpus": os.cpu_count(),
          "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "loadavg_1m": os.getloadavg()[0]}
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    rows = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    info["cpu"] = rows.get("Model name", "").strip()
    flags = rows.get("Flags", "").split()
    info["isa"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16",
                                       "avx512_vnni") if f in flags)
  except OSError:
    pass
  try:
    import jax
    info["jax"] = jax.__version__
  except ImportError:
    pass
  try:
    import torch
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
  except ImportError:
    pass
  try:  # which kernels our CPU convolutions run on (the oneDNN extension or XLA's)
    from enhance_jax.models import convolution
    from enhance_jax.native import onednn_status
    info["conv_backend"] = convolution.backend()
    info["conv_backend_detail"] = onednn_status()[1]
  except ImportError:
    pass
  return info


def import_torch(threads: int):
  """torch with `threads` intra-op threads, or None when it is not installed."""
  try:
    import torch
  except ImportError:
    print("PyTorch is not installed: `pip install torch==2.13.0` (CPU) for the reference column.")
    return None
  torch.set_num_threads(threads)
  return torch


# ----------------------------------------------------------------------------- memory

def _status(field: str) -> int:
  """A VmRSS/VmHWM-style field of /proc/self/status, in bytes."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024
  raise KeyError(field)


def rss() -> int:
  """Current resident set size in bytes."""
  return _status("VmRSS")


def peak_rss() -> int:
  """Peak resident set size (VmHWM) in bytes since the start or the last `reset_peak_rss`."""
  return _status("VmHWM")


def reset_peak_rss() -> bool:
  """Resets VmHWM to the current RSS (Linux: write 5 to clear_refs). False if not allowed."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def run_json_subprocess(args: list[str], env: dict | None = None, timeout: float = 3600) -> dict:
  """Runs `python args...` and parses the last stdout line as JSON."""
  proc = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                        env={**os.environ, **(env or {})}, timeout=timeout)
  if proc.returncode:
    raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- timing

def alternate(fns: dict[str, Callable[[], None]], rounds: int, per_round: int,
              min_round_s: float = 0.0) -> dict[str, list[float]]:
  """Times each blocking callable `per_round` times per round, the callables taking
  turns round by round (so each sees the same machine load). Per-call seconds."""
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for name, fn in fns.items():
      t_round = time.perf_counter()
      n = 0
      while n < per_round or time.perf_counter() - t_round < min_round_s:
        t0 = time.perf_counter()
        fn()
        times[name].append(time.perf_counter() - t0)
        n += 1
  return times


def median(xs: list[float]) -> float:
  return statistics.median(xs) if xs else float("nan")


def matmul_peak(torch=None, n: int = 4096, rounds: int = 4, dtype: str = "float32",
                device: str = "cpu") -> dict[str, float]:
  """GFLOP/s of an n x n `dtype` matmul in JAX (its default backend and default precision:
  TF32 for float32 on NVIDIA GPUs) and torch (on `device`, its defaults: full float32
  unless torch.backends.cuda.matmul.allow_tf32), alternating; best of the rounds."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  a = np.random.default_rng(0).standard_normal((n, n), np.float32)
  ja, jb = jnp.asarray(a, dtype), jnp.asarray(a.T.copy(), dtype)
  mm = jax.jit(jnp.matmul)
  mm(ja, jb).block_until_ready()
  fns = {"jax": lambda: mm(ja, jb).block_until_ready()}
  if torch is not None:
    dev, tdt = torch.device(device), getattr(torch, dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    ta, tb = torch.from_numpy(a).to(dev, tdt), torch.from_numpy(a.T.copy()).to(dev, tdt)
    torch.mm(ta, tb)
    sync()
    fns["torch"] = lambda: (torch.mm(ta, tb), sync())
  times = alternate(fns, rounds, 2)
  return {k: 2.0 * n ** 3 / min(v) / 1e9 for k, v in times.items()}


# ----------------------------------------------------------------------------- output

def table(rows: list[dict], columns: list[str]) -> str:
  """A GitHub markdown table of `rows` (floats get 3 significant digits)."""
  def fmt(v):
    if isinstance(v, float):
      return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return "" if v is None else str(v)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
  return "\n".join(lines)


def write_json(path: str | None, obj) -> None:
  if path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")
