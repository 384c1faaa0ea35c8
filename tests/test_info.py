"""`python -m enhance_jax.info` and what it prints: parameter and FLOP counts
(enhance_jax.models.complexity) and the catalog of models, datasets, configs, weights."""
import os
import re
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from enhance_jax import catalog, models
from enhance_jax import config as config_lib
from enhance_jax.models import complexity, convolution


def _has_platform_cond(fn, *args) -> bool:
  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "cond" and eqn.params.get("branches_platforms"):
        return True
      if any(walk(sub) for sub in complexity._sub_jaxprs(eqn)):
        return True
    return False
  return walk(jax.make_jaxpr(fn)(*args).jaxpr)


def _conv_apply(features, size, cin):
  conv = convolution.Conv(features, (3, 3), padding="SAME")
  x = jax.ShapeDtypeStruct((1, size[0], size[1], cin), jnp.float32)
  variables = jax.eval_shape(conv.init, jax.random.key(0), x)  # shapes: nothing is computed
  return conv.apply, variables, x


@pytest.mark.parametrize("size", [(12, 10), (2, 2)])  # (2, 2): the CPU rewrite (window > input)
def test_conv_flops_are_2_h_w_cin_cout_9_once(size):
  h, w = size
  apply, variables, x = _conv_apply(16, size, 3)
  expected = 2 * h * w * 3 * 16 * 9
  if size == (2, 2):  # a cond over the CPU rewrite and the plain conv: one branch counts
    assert _has_platform_cond(apply, variables, x)
  assert complexity.count_flops(apply, variables, x) == {"conv": expected, "dot": 0.0}


@pytest.mark.parametrize("size", [(12, 10), (2, 2)])
def test_conv_gradient_flops_are_three_forwards(size):
  apply, variables, x = _conv_apply(8, size, 5)
  loss = lambda v, x: jnp.sum(apply(v, x) ** 2)
  forward = 2 * size[0] * size[1] * 5 * 8 * 9
  f = complexity.count_flops(jax.grad(loss, argnums=(0, 1)), variables, x)
  assert f == {"conv": 3 * forward, "dot": 0.0}  # forward, input and weight gradients


def test_conv_transpose_flops_counted_once():
  layer = convolution.ConvTranspose(8, (2, 2), strides=(2, 2))
  x = jax.ShapeDtypeStruct((1, 4, 5, 3), jnp.float32)
  variables = jax.eval_shape(layer.init, jax.random.key(0), x)
  assert _has_platform_cond(layer.apply, variables, x)
  expected = 2 * (8 * 10) * 3 * 8  # each output pixel: one tap of 3 inputs per output channel
  assert complexity.count_flops(layer.apply, variables, x) == {"conv": expected, "dot": 0.0}


def test_dense_flops_and_params():
  dense = nn.Dense(7)
  x = jnp.zeros((5, 11))
  variables = dense.init(jax.random.key(0), x)
  assert complexity.count_flops(dense.apply, variables, x) == {"conv": 0.0, "dot": 2.0 * 5 * 11 * 7}
  assert complexity.count_params(variables) == 11 * 7 + 7
  # Shapes (eval_shape) count like arrays; BatchNorm statistics are not parameters.
  bn = nn.BatchNorm(use_running_average=True)
  shapes = jax.eval_shape(bn.init, jax.random.key(0), jnp.zeros((2, 4)))
  assert complexity.count_params(shapes) == 8
  assert complexity.count_params(shapes["batch_stats"]) == 8  # a plain tree: every leaf


def test_srcnn_915_params_from_eval_shape():
  model = models.get("srcnn", kernel_sizes=(9, 1, 5))
  shapes, _, _ = catalog.init_shapes(model, 16, 1)
  assert complexity.count_params(shapes) == 8129  # 9*9*64+64 + 64*32+32 + 5*5*32+1
  real = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)))
  assert sum(a.size for a in jax.tree.leaves(real["params"])) == 8129


def test_models_section_lists_every_model_with_its_parameters():
  lines = catalog.models_section()
  counts = {}
  for name in models.MODELS.names():
    row = [l for l in lines if l.split()[:1] == [name]]
    assert len(row) == 1, name
    counts[name] = int(row[0].split()[1].replace(",", ""))  # a count, not an error
  # Independent counts: SRCNN 9-5-5 on Y; Zero-DCE's 7 3x3 convs (32 features; 79,416 in the
  # paper); DnCNN-S's 17 bias-free 3x3 convs of 64 features, BatchNorm (scale, bias) on 15.
  assert counts["srcnn"] == 9 * 9 * 64 + 64 + 5 * 5 * 64 * 32 + 32 + 5 * 5 * 32 + 1
  assert counts["zerodce"] == (9 * 3 * 32 + 32 + 3 * (9 * 32 * 32 + 32) + 2 * (9 * 64 * 32 + 32)
                               + 9 * 64 * 24 + 24) == 79416
  assert counts["dncnn"] == 9 * 3 * 64 + 15 * (9 * 64 * 64 + 2 * 64) + 9 * 64 * 3


class _NeedsArgument(nn.Module):
  """A model without defaults."""
  width: int

  def __call__(self, x, *, train=False):
    return x


class _Broken(nn.Module):
  """A model that fails on any input."""

  @nn.compact
  def __call__(self, x, *, train=False):
    raise ValueError("broken: no input fits")


def test_a_model_that_cannot_be_built_says_why(monkeypatch):
  monkeypatch.setitem(models.MODELS._entries, "needs_argument", _NeedsArgument)
  monkeypatch.setitem(models.MODELS._entries, "broken", _Broken)
  params, _, why = catalog.model_params("needs_argument")
  assert params is None and why.startswith("cannot be built at default kwargs") and "width" in why
  params, _, why = catalog.model_params("broken")
  assert params is None and "no input fits" in why
  with pytest.raises(ValueError, match="cannot take a 8x8x3 input: broken: no input fits"):
    catalog.model_report("broken", 8, 3)


def _srcnn_conv_flops(size):  # SRCNN 9-5-5 on Y (the default), per size x size image
  return 2 * size * size * (9 * 9 * 1 * 64 + 5 * 5 * 64 * 32 + 5 * 5 * 32 * 1)


def _reported_flops(text):
  m = re.search(r"FLOPs per (\d+)x\1x(\d) image .*?: ([\d,]+) = .*convolutions ([\d,]+); "
                r"matmuls ([\d,]+)", text)
  assert m, text
  total, conv, dot = (int(m.group(i).replace(",", "")) for i in (3, 4, 5))
  return total, conv, dot


def test_model_report_srcnn_flops_equal_the_formula():
  text = "\n".join(catalog.model_report("srcnn", 32, 3))
  total, conv, dot = _reported_flops(text)
  assert conv == _srcnn_conv_flops(32) and total == conv + dot
  assert f"parameters: {57281:,}" in text
  with pytest.raises(KeyError, match="Unknown model 'srcnnn'.*srcnn"):
    catalog.model_report("srcnnn")


def test_configs_section_lists_every_shipped_config():
  lines = catalog.configs_section()
  for name in config_lib.shipped_configs():
    row = [l for l in lines if l.split()[:1] == [name]]
    assert len(row) == 1, name
  assert any(l.split()[:1] == ["default"] and "Default run" in l for l in lines)
  assert catalog.config_summary("pretrained/dncnn_s25").startswith("DnCNN-S σ=25")


def test_datasets_status_from_files_only(tmp_path, monkeypatch):
  from enhance_jax.data import builders  # noqa: F401  (registers every dataset)
  from enhance_jax.data.builders import sr
  from enhance_jax.data.sources import DATASETS
  package = [n for n in DATASETS.names()  # tests may register their own (test_attacks)
             if getattr(DATASETS.lookup(n), "__module__", "").startswith("enhance_jax.")]
  for name in package:  # every dataset the package registers is described
    files, built = catalog.dataset_status(name, tmp_path)
    assert "not described" not in files, name
    assert built == "-" or built.startswith("not built"), (name, built)
  info = tmp_path / sr.Set5.name / "x3" / str(sr.Set5.VERSION)
  info.mkdir(parents=True)
  (info / "dataset_info.json").write_text("{}")
  _, built = catalog.dataset_status("set5", tmp_path)
  assert built == f"built x3 in {tmp_path / sr.Set5.name}; not x2, x4"
  monkeypatch.setenv("ENHANCE_JAX_DATA", str(tmp_path / "nowhere"))
  files, _ = catalog.dataset_status("bsd68", tmp_path)
  assert files.startswith(str(tmp_path / "nowhere" / "bsd68")) and "manual_dir" in files


def test_pretrained_section_says_which_files_are_present(tmp_path, monkeypatch):
  from enhance_jax.weights import importers
  (tmp_path / "zero_dce").mkdir()
  (tmp_path / "zero_dce" / "Epoch99.pth").write_bytes(b"")
  monkeypatch.setenv("ENHANCE_JAX_DATA", str(tmp_path.parent))
  monkeypatch.setattr(importers, "default_source_dir", lambda: tmp_path)
  lines = catalog.pretrained_section()
  rows = {l.split()[0]: l for l in lines[1:]}
  assert set(rows) == set(importers.names())
  assert rows["zerodce"].endswith("files present")
  assert rows["dncnn_s25"].endswith("missing dncnn_matconvnet/specifics/sigma=25.mat")


def test_report_sections():
  text = catalog.report(["losses", "degradations"])
  assert text.splitlines()[0].startswith(f"backend: {jax.default_backend()}")
  assert "convolutions:" in text.splitlines()[0]
  assert text.index("degradations (") < text.index("losses (")
  assert "gaussian_noise(sigma=25.0, clip=False, scale=255.0)" in text
  assert "models (" not in text and "configs (" not in text
  with pytest.raises(ValueError, match="unknown section"):
    catalog.report(["model"])


def _info(*args):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  return subprocess.run([sys.executable, "-m", "enhance_jax.info", *args], capture_output=True,
                        text=True, env=env, timeout=300)


def test_entry_point():
  proc = _info("--model=srcnn", "--size=32", "--configs")
  assert proc.returncode == 0, proc.stderr
  total, conv, dot = _reported_flops(proc.stdout)
  assert conv == _srcnn_conv_flops(32) and total == conv + dot
  assert proc.stdout.startswith("backend: ") and "pretrained/dncnn_s25" in proc.stdout
  proc = _info("--model=no_such_model")
  assert proc.returncode == 1 and proc.stdout == ""
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: Unknown model 'no_such_model'"), proc.stderr
