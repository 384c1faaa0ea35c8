"""Every shipped config (enhance_jax/configs) loads, passes the schema and builds its model; a
2-step smoke run of the low-light CNN's cpu profile through the trainer."""
from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from enhance_jax import models
from enhance_jax.config import load_config, shipped_configs
from enhance_jax.training import components

PROFILED = ("lowlight_cnn", "lowlight_unet", "lowlight_mirnet", "inpainting_cnn")
CASES = [(name, None) for name in shipped_configs()] + [(name, "cpu") for name in PROFILED]


def _id(case):
  name, arg = case
  return name + (f":{arg}" if arg else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_config_loads_and_builds(case):
  name, arg = case
  config = load_config(name, arg)
  if config.baseline.name:
    from enhance_jax.baselines import as_model
    assert as_model(config).name == config.baseline.name
    return
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
  summary = loop.train_and_evaluate(c, str(tmp_path))
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
