"""Every shipped config (enhance_jax/configs) loads, passes the schema and builds its model, and
so does every row of every study config (enhance_jax/configs/studies) in both profiles; study
arguments are parsed by the one strict parser; no study script builds a config itself; a
2-step smoke run of the low-light CNN's cpu profile through the trainer."""
from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from enhance_jax import models
from enhance_jax.config import ConfigError, load_config, shipped_configs
from enhance_jax.configs._profiles import PROFILES
from enhance_jax.training import components

ROOT = Path(__file__).resolve().parents[1]
PROFILED = ("lowlight_cnn", "lowlight_unet", "lowlight_mirnet", "inpainting_cnn")
STUDIES = sorted(n.split("/", 1)[1] for n in shipped_configs() if n.startswith("studies/"))
CASES = [(name, None) for name in shipped_configs()] + [(name, "cpu") for name in PROFILED]


def _study_rows():
  import importlib
  out = []
  for study in STUDIES:
    module = importlib.import_module(f"enhance_jax.configs.studies.{study}")
    for profile in PROFILES:
      out += [(study, f"{arg},profile={profile}") for arg in module.rows(profile)]
  return out


STUDY_ROWS = _study_rows()


def _id(case):
  name, arg = case
  return name + (f":{arg}" if arg else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_config_loads_and_builds(case):
  _check_builds(case)


@pytest.mark.parametrize("row", STUDY_ROWS, ids=[f"{s}:{a}" for s, a in STUDY_ROWS])
def test_study_row_loads_and_builds(row):
  """Each row of each study table is one config; it names its test sets (config.evals)."""
  study, arg = row
  config = _check_builds((f"studies/{study}", arg))
  assert config.evals, f"{study}:{arg}: a study row scores named eval sets"


def test_nlrn_bsd400_is_the_authors_recipe():
  """nlrn_bsd400 (Ding-Liu/NLRN models/nlrn.py, datasets/denoise.py): 43x43 Train400 patches,
  batch 16, central-5x5 MSE, Adam 1e-3 halved at 100k..450k of 500k, clip 2.5, σ and profile
  from the argument, BSD68 at σ as the named eval set; the model is NLRN's defaults."""
  from enhance_jax.training import losses, optim
  c = load_config("nlrn_bsd400:sigma=50")
  assert (c.data.name, c.data.patch_size, c.train.batch_size, c.train.num_steps) == (
      "train400", 43, 16, 500_000)
  assert c.data.degrade == "gaussian_noise(sigma=50)" and list(c.evals) == ["bsd68_s50"]
  assert c.evals.bsd68_s50.data.name == "bsd68" and c.evals.bsd68_s50.data.eval_split == "test"
  assert (c.loss, c.optimizer.name, c.optimizer.grad_clip_norm) == ("mse_center5", "adam", 2.5)
  assert c.optimizer.grad_clip_per_tensor
  # Each array clipped alone: norms 5 -> 2.5 and 1 -> 1 (a global clip would scale both).
  grads = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([1.0, 0.0])}
  clipped, _ = optim.clip_each_by_norm(2.5).update(grads, None)
  assert jnp.allclose(clipped["a"], jnp.array([1.5, 2.0]))
  assert jnp.allclose(clipped["b"], grads["b"])
  _, lr = optim.build(c.optimizer, c.train.num_steps)
  got = [float(lr(s)) for s in (0, 99_999, 100_000, 200_000, 300_000, 400_000, 450_000, 499_999)]
  assert got == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5, 3.125e-5, 3.125e-5])
  kw = c.model.kwargs
  assert (kw.window, kw.test_patch, kw.test_stride, kw.clip_output, kw.steps, kw.features) == (
      None, 43, 7, True, 12, 128)
  assert load_config("nlrn_bsd400:sigma=15,profile=cpu").train.num_steps < 10
  # The loss: MSE on rows/cols 19..23 of a 43x43 patch (tf.slice at shape // 2 - 5 // 2).
  pred = jax.random.uniform(jax.random.PRNGKey(0), (2, 43, 43, 1))
  target = jax.random.uniform(jax.random.PRNGKey(1), (2, 43, 43, 1))
  want = jnp.mean((pred[:, 19:24, 19:24] - target[:, 19:24, 19:24]) ** 2)
  total, _ = losses.build(c.loss)(pred, target)
  assert float(total) == pytest.approx(float(want), rel=1e-6)
  assert float(total) != pytest.approx(float(jnp.mean((pred - target) ** 2)), rel=1e-3)


def test_studies_have_rows():
  assert set(STUDIES) >= {"ablations", "damage_removal", "denoising", "lowlight", "survey"}
  assert all(any(s == study for s, _ in STUDY_ROWS) for study in STUDIES)


def test_study_rows_differ():
  """Rows of a study under one profile are different runs (else two rows print one command)."""
  from enhance_jax import config as config_lib
  for study in STUDIES:
    rows = [a for s, a in STUDY_ROWS if s == study and a.endswith("profile=cpu")]
    configs = [load_config(f"studies/{study}", a) for a in rows]
    for i in range(len(configs)):
      for j in range(i):
        assert config_lib.diff(configs[i], configs[j]), (study, rows[i], rows[j])


@pytest.mark.parametrize("arg, match", [
    ("modle=dncnn,profile=cpu", "unknown key; did you mean model"),
    ("model=dncnn,sigma=twenty", "sigma"),
    ("model=dncnn,profile=gpu", "profile=gpu: use one of cpu, paper"),
    ("model=unet", "model=unet: use bm3d, dncnn_zoo or one of"),
])
def test_study_arg_refused(arg, match):
  with pytest.raises(ConfigError, match=match):
    load_config("studies/denoising", arg)


@pytest.mark.parametrize("spec, arg", [("pretrained/dncnn_b", "sigmaa=15"),
                                       ("baselines/bm3d_bsd68_s25", "max_image=2"),
                                       ("lowlight_cnn", "profile=cpu,steps=3")])
def test_config_args_use_the_one_parser(spec, arg):
  with pytest.raises(ConfigError, match="unknown key"):
    load_config(spec, arg)


def test_config_args_typed():
  assert load_config("pretrained/dncnn_b", "15").data.degrade == "gaussian_noise(sigma=15)"
  assert load_config("baselines/bm3d_bsd68_s25", "sigma=50,max_images=2").data.max_eval_images == 2
  assert load_config("lowlight_cnn", "profile=cpu").model.kwargs.features == 16


def test_no_study_script_builds_a_config():
  """Study scripts load configs (enhance_jax/configs/studies); they never build one."""
  scripts = sorted((ROOT / "experiments").glob("*.py"))
  assert scripts
  for path in scripts:
    text = path.read_text()
    for banned in ("base_config(", "ConfigDict("):
      assert banned not in text, f"{path.name} contains {banned}"


def test_study_scripts_import_no_entry_point():
  """Entry-point modules define absl flags; study scripts use enhance_jax.api instead."""
  import re
  for path in sorted((ROOT / "experiments").glob("*.py")):
    text = path.read_text()
    for entry in ("train", "evaluate", "enhance", "import_weights"):
      pattern = rf"(from enhance_jax import [^\n]*\b{entry}\b|import enhance_jax\.{entry}\b|from enhance_jax\.{entry} import)"
      assert not re.search(pattern, text), f"{path.name} imports enhance_jax.{entry}"


def _check_builds(case):
  name, arg = case
  config = load_config(name, arg)
  if config.baseline.name:
    from enhance_jax.baselines import as_model
    assert as_model(config).name == config.baseline.name
    return config
  model = components.model(config)
  sample = components.sample_input(config)
  x = jax.ShapeDtypeStruct(sample["input"].shape, jnp.float32)
  extras = {k: jax.ShapeDtypeStruct(sample[k].shape, sample[k].dtype)
            for k in models.extra_inputs(model)}
  key = jax.random.PRNGKey(0)
  shapes = jax.eval_shape(
      lambda x, e: model.init({"params": key, "dropout": key}, x, train=False, **e), x, extras)
  assert jax.tree.leaves(shapes["params"]), f"{_id(case)}: model has no parameters"
  if config.task == "gan":
    assert models.get(config.gan.disc.name, **dict(config.gan.disc.kwargs)) is not None
  return config


def test_profiles_reject_unknown():
  with pytest.raises(ValueError, match="profile"):
    load_config("lowlight_cnn", "gpu")


def test_lowlight_cnn_cpu_two_steps(tmp_path, shared_data):
  """The cpu profile trains 2 steps and logs what the study's curves need."""
  del shared_data
  from enhance_jax.training import loop
  c = load_config("lowlight_cnn", "cpu")
  c.train.batch_size = 4
  c.train.num_steps = 2
  c.train.log_every = 1
  c.train.eval_every = 2
  c.train.checkpoint_every = 2
  c.data.max_eval_images = 1
  c.data.eval_max_size = 64
  c.eval.grid_images = 1
  summary = loop.train_and_evaluate(c, str(tmp_path))["eval"]  # {set name: summary}
  assert math.isfinite(summary["psnr"]) and summary["num_images"] == 1
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train = [r for r in rows if r["split"] == "train"]
  assert len(train) == 2 and all(r["loss_mse"] > 0 for r in train)
  assert any(r["split"] == "eval" and "mse" in r for r in rows)


def test_readme_generator_lists_every_study():
  import importlib.util
  path = Path(__file__).resolve().parents[1] / "experiments" / "update_readme.py"
  spec = importlib.util.spec_from_file_location("_update_readme", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  text = module.render()
  for study in module.STUDIES:
    assert f"## {study['name']}" in text
  assert "python experiments/lowlight_study.py --profile=cpu" in text
  assert "python experiments/damage_removal.py --profile=paper" in text


def _run_study(*args):
  import subprocess
  import sys
  return subprocess.run([sys.executable, "experiments/ablations.py", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def test_study_script_bad_flag_is_one_error_line():
  proc = _run_study("--profile=gpu")
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1].startswith("error: flag --profile=gpu")
  assert "Traceback" not in proc.stderr


def test_study_script_refuses_a_workdir_of_another_config(tmp_path):
  """A row's folder holding a run of another config is never resumed or reported as the row."""
  from enhance_jax import config as config_lib
  row = tmp_path / "variant-full"
  config_lib.save_run_config(load_config("studies/ablations", "variant=no_skip,profile=cpu"), row)
  before = (row / "config.json").read_bytes()
  proc = _run_study("--profile=cpu", f"--workdir={tmp_path}", f"--results={tmp_path / 'res'}")
  assert proc.returncode == 1, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "holds a run of another config" in last, last
  assert "model.kwargs.residual" in last
  assert (row / "config.json").read_bytes() == before
  assert not (tmp_path / "res" / "ablations.md").exists()


def test_train_row_rescores_a_finished_run_when_only_eval_keys_differ(tmp_path, monkeypatch,
                                                                     tiny_config):
  """A finished run whose config differs only in eval.* / evals.* is re-scored, not retrained
  (same weights: same PSNR, plus the new metric); any other difference is still refused."""
  monkeypatch.syspath_prepend(str(ROOT))  # `pytest` (unlike `python -m pytest`) omits the cwd
  from experiments import common
  from enhance_jax import api
  c = tiny_config
  c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 2, 2, 2
  c.data.max_eval_images = 2
  configs = {"row": c}
  monkeypatch.setattr(common, "load", lambda study, arg: configs["row"])
  monkeypatch.setattr(common, "workdir", lambda study: tmp_path)
  monkeypatch.setattr(common, "profile", lambda: "cpu")
  first = common.train_row("tiny", "x=1")
  name = next(iter(first.results))
  assert "ssim_accuracy" not in first.results[name]

  def no_training(*a, **k):
    raise AssertionError("retrained")
  monkeypatch.setattr(api, "train", no_training)
  rescored = c.copy_and_resolve_references()
  rescored.eval.ssim_threshold = 0.01
  configs["row"] = rescored
  again = common.train_row("tiny", "x=1")
  assert again.command == first.command and again.command.startswith("python -m enhance_jax.train")
  assert again.results[name]["psnr"] == pytest.approx(first.results[name]["psnr"], abs=1e-4)
  assert again.results[name]["ssim_accuracy"] == 1.0
  assert (tmp_path / "x-1" / "study_eval" / "eval.json").is_file()
  other = rescored.copy_and_resolve_references()
  other.optimizer.learning_rate = 0.5
  configs["row"] = other
  with pytest.raises(ValueError, match="holds a run of another config.*optimizer.learning_rate"):
    common.train_row("tiny", "x=1")


def test_evaluate_row_rescores_weights_republished_under_the_same_path(tmp_path, monkeypatch,
                                                                       tiny_config):
  """An evaluated row (imported or zoo weights) is reused while its config and weights are
  the same, and re-scored when new weights are saved under the same init_checkpoint path
  (a zoo card re-published): the config text alone would return the stale score."""
  monkeypatch.syspath_prepend(str(ROOT))
  import numpy as np
  from experiments import common
  from enhance_jax import api
  from enhance_jax.weights import variables as variables_io
  c = tiny_config
  c.train.num_steps = 0
  c.data.max_eval_images = 1
  weights = tmp_path / "zoo" / "variables"
  model = components.model(c)
  v = jax.tree.map(np.asarray, components.init_variables(c, model))
  variables_io.save_variables(weights, v)
  c.init_checkpoint = str(weights)
  monkeypatch.setattr(common, "load", lambda study, arg: c)
  monkeypatch.setattr(common, "workdir", lambda study: tmp_path / "study")
  monkeypatch.setattr(common, "profile", lambda: "cpu")
  calls = []
  evaluate = api.evaluate
  monkeypatch.setattr(api, "evaluate", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
  first = common.evaluate_row("tiny", "x=1")
  assert common.evaluate_row("tiny", "x=1").results == first.results and len(calls) == 1
  variables_io.save_variables(weights, jax.tree.map(lambda a: a * 0.5, v))
  again = common.evaluate_row("tiny", "x=1")
  assert len(calls) == 2
  name = next(iter(first.results))
  assert again.results[name]["psnr"] != first.results[name]["psnr"]
