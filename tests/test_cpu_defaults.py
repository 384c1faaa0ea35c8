"""`enhance_jax.cpu_defaults`: XLA flags that yield to the user's, and the allocator setting."""
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
# allocates it again: page faults of the second allocation.
_REFAULT = textwrap.dedent("""
    import ctypes, resource, threading
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
""")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="the allocator setting is for glibc")
def test_freed_memory_is_reused_without_page_faults():
  def faults(**env):
    run = subprocess.run([sys.executable, "-c", _REFAULT], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return int(run.stdout.split()[-1])

  default = faults(ENHANCE_JAX_NO_CPU_DEFAULTS="1")
  tuned = faults()
  assert default > 10_000      # 64 MB is 16k pages, mapped afresh
  assert tuned < default / 10, (tuned, default)
