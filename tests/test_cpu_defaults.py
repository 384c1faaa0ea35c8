"""`enhance_jax.cpu_defaults`: XLA flags that yield to the user's, and the allocator setting,
both for CPU-only runs."""
import os
import subprocess
import sys
import textwrap

import pytest

from enhance_jax import cpu_defaults


def test_xla_flags_yield_to_the_user(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=256")
  monkeypatch.setattr(cpu_defaults, "_backend_initialised", lambda: False)
  cpu_defaults.apply_xla_flags()
  flags = os.environ["XLA_FLAGS"].split()
  assert "--xla_cpu_prefer_vector_width=256" in flags           # the user's value wins
  assert "--xla_cpu_prefer_vector_width=512" not in flags
  assert "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution" in flags
  monkeypatch.setattr(cpu_defaults, "_backend_initialised", lambda: True)
  monkeypatch.setenv("XLA_FLAGS", "")
  with pytest.warns(UserWarning, match="do not apply"):          # too late: say so
    cpu_defaults.apply_xla_flags()


def test_opt_out(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "")
  monkeypatch.setenv("ENHANCE_JAX_NO_CPU_DEFAULTS", "1")
  cpu_defaults.apply()
  assert os.environ["XLA_FLAGS"] == ""


# A worker thread (as XLA's are) allocates and frees a 64 MB buffer, then
# allocates it again: page faults of the second allocation. Then XLA_FLAGS.
_REFAULT = textwrap.dedent("""
    import ctypes, os, resource, threading
    import enhance_jax
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    out = []
    def work():
      n = 64 << 20
      p = libc.malloc(n); libc.memset(p, 1, n); libc.free(p)
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      p = libc.malloc(n); libc.memset(p, 1, n)
      out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    t = threading.Thread(target=work); t.start(); t.join()
    print(out[0])
    print(os.environ["XLA_FLAGS"])
""")

_GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))


def _import_enhance_jax(**env) -> tuple[int, str]:
  """(page faults of the re-allocation, XLA_FLAGS) after `import enhance_jax` in a fresh process
  whose environment has no platform choice or flags of its own, plus `env`."""
  keep = {k: v for k, v in os.environ.items() if k not in (
      "JAX_PLATFORMS", "ENHANCE_JAX_NO_CPU_DEFAULTS", "TPU_LIBRARY_PATH",
      "PJRT_NAMES_AND_LIBRARY_PATHS")}
  run = subprocess.run([sys.executable, "-c", _REFAULT], capture_output=True, text=True,
                       env={**keep, "XLA_FLAGS": "", **env}, check=True)
  faults, flags = run.stdout.split("\n")[-3:-1]
  return int(faults), flags


@pytest.mark.skipif(not _GLIBC, reason="the allocator setting is for glibc")
def test_freed_memory_is_reused_without_page_faults():
  default, _ = _import_enhance_jax(ENHANCE_JAX_NO_CPU_DEFAULTS="1")
  tuned, flags = _import_enhance_jax(JAX_PLATFORMS="cpu")
  assert default > 10_000      # 64 MB is 16k pages, mapped afresh
  assert tuned < default / 10, (tuned, default)
  assert flags.split() == list(cpu_defaults.CPU_DEFAULTS)


def _fake_install(root, *paths):
  """Empty modules at `paths` under `root` (a PYTHONPATH entry), as an installed plugin lays out."""
  for path in paths:
    (root / path).mkdir(parents=True)
    (root / path / "__init__.py").write_text("")
  return str(root)


@pytest.mark.skipif(not _GLIBC, reason="the allocator setting is for glibc")
def test_not_applied_where_an_accelerator_may_run(tmp_path):
  gpu = _fake_install(tmp_path / "gpu", "jax_plugins/xla_cuda12", "jax_cuda12_plugin")
  tpu = _fake_install(tmp_path / "tpu", "libtpu")
  for env in [dict(JAX_PLATFORMS="cuda"), dict(JAX_PLATFORMS="tpu"),
              dict(JAX_PLATFORMS="cuda,cpu"),               # GPU first, CPU as fallback
              dict(PYTHONPATH=gpu), dict(PYTHONPATH=tpu)]:  # installed, JAX would pick it
    faults, flags = _import_enhance_jax(**env)
    assert faults > 10_000 and flags == "", env
  # The user's choice of CPU wins over an installed plugin.
  faults, flags = _import_enhance_jax(PYTHONPATH=gpu, JAX_PLATFORMS="cpu")
  assert faults < 10_000 and flags.split() == list(cpu_defaults.CPU_DEFAULTS)
