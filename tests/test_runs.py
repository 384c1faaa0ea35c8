"""A run's records: named evaluation sets, the one initialisation path, config.json
written only after a successful start, resumes of another shape refused, run_info.json."""
from __future__ import annotations

import hashlib
import json
import struct

import jax
import numpy as np
import pytest

from enhance_jax import api
from enhance_jax.training import components, loop, tasks
from enhance_jax.training import state as state_lib


def _dncnn_two_sets():
  """A tiny gray DnCNN denoiser scored on two named sets of the embedded photos:
  s15 (sigma 15, 2 images) and s50 (sigma 50, 1 image, 4-pixel border shaved)."""
  from enhance_jax.config import base_config
  c = base_config()
  c.model.name, c.model.kwargs = "dncnn", dict(depth=3, features=8)
  c.data.channels, c.data.patch_size, c.data.eval_max_size = 1, 32, 48
  c.data.degrade = "gaussian_noise(sigma=25)"
  c.train.batch_size, c.train.num_steps, c.train.log_every = 4, 4, 2
  c.train.eval_every, c.train.checkpoint_every = 4, 2
  c.optimizer.warmup_steps = 1
  c.eval.grid_images = 1
  c.evals.s15 = dict(data=dict(degrade="gaussian_noise(sigma=15)"))
  c.evals.s50 = dict(data=dict(degrade="gaussian_noise(sigma=50)", max_eval_images=1),
                     eval=dict(crop_border=4))
  return c


def _tensorboard_tags(logdir) -> set[str]:
  """Scalar tags of every TFRecord event file under `logdir`."""
  from tensorboardX.proto import event_pb2
  tags = set()
  for path in logdir.rglob("events.out.tfevents.*"):
    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
      (n,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + n])
      tags |= {v.tag for v in event.summary.value}
      pos += 12 + n + 4
  return tags


def _snapshot(root) -> dict:
  return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
          else "dir" for p in sorted(root.rglob("*"))}


def test_two_eval_sets_are_logged_by_name(tmp_path):
  c = _dncnn_two_sets()
  wd = tmp_path / "run"
  summary = loop.train_and_evaluate(c, str(wd))
  assert list(summary) == ["s15", "s50"]
  s15, s50 = summary["s15"], summary["s50"]
  assert s15["num_images"] == 2 and s50["num_images"] == 1
  assert s15["input_psnr"] > s50["input_psnr"] + 6  # each set has its own degradation

  rows = [json.loads(line) for line in (wd / "metrics.jsonl").read_text().splitlines()]
  evals = {r["name"]: r for r in rows if r["split"] == "eval"}
  assert sorted(evals) == ["s15", "s50"] and {r["step"] for r in evals.values()} == {4}
  for name in evals:
    assert evals[name]["psnr"] == pytest.approx(summary[name]["psnr"], abs=1e-9)
  assert all("name" not in r for r in rows if r["split"] == "train")

  report = json.loads((wd / "eval_metrics.json").read_text())
  assert list(report) == ["s15", "s50"]
  assert report["s50"]["step"] == 4 and len(report["s50"]["per_image"]) == 1
  assert report["s15"]["psnr"] == pytest.approx(s15["psnr"])
  assert {"eval/s15/psnr", "eval/s50/psnr", "eval/s50/input_ssim", "train/loss",
          "eval/s15/grid", "eval/s50/grid"} <= _tensorboard_tags(wd / "tensorboard")
  assert (wd / "eval_grid_s15.png").is_file() and (wd / "eval_grid_s50.png").is_file()

  # evaluate: one named set, the same numbers, in its own folder; the run's files are untouched.
  trained = {n: (wd / n).read_bytes() for n in ("eval_metrics.json", "eval_grid_s50.png")}
  result = api.evaluate(c, str(wd), evals=["s50"])
  assert list(result) == ["s50"]
  for k in ("psnr", "ssim", "input_psnr"):
    assert result["s50"][k] == pytest.approx(s50[k], abs=1e-4), k
  assert result["s50"]["protocol"]["crop_border"] == 4
  assert {n: (wd / n).read_bytes() for n in trained} == trained
  report = json.loads((wd / "eval" / "s50" / "eval_metrics.json").read_text())
  assert list(report) == ["s50"] and report["s50"]["psnr"] == result["s50"]["psnr"]
  assert "weights" in report["s50"] and (wd / "eval" / "s50" / "eval_grid.png").is_file()
  assert not (wd / "eval" / "s15").exists()
  other = tmp_path / "elsewhere"
  api.evaluate(c, str(wd), evals=["s15"], output_dir=str(other))
  assert (other / "s15" / "eval_metrics.json").is_file() and not (wd / "eval" / "s15").exists()
  with pytest.raises(ValueError, match="'s25'.*s15, s50"):
    api.evaluate(c, str(wd), evals=["s25"])


def test_resume_of_another_shape_is_refused_and_the_workdir_kept(tiny_config, tmp_path):
  c = tiny_config
  c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 2, 2, 2
  wd = tmp_path / "run"
  loop.train_and_evaluate(c, str(wd))
  saved = (wd / "config.json").read_text()
  info = json.loads((wd / "run_info.json").read_text())["starts"]
  assert len(info) == 1 and info[0]["start_step"] == 0
  assert info[0]["devices"]["count"] == jax.device_count() and info[0]["versions"]["jax"]
  assert "git_commit" in info[0]  # the tests run from the checkout
  before = _snapshot(wd)

  other = c.copy_and_resolve_references()
  other.train.num_steps = 4
  other.model.kwargs.features = 8
  other.data.channels = 1
  other.model.kwargs.out_channels = 1
  with pytest.raises(ValueError) as e:
    loop.train_and_evaluate(other, str(wd))
  msg = str(e.value)
  assert "\n" not in msg
  for key in ("data.channels", "model.kwargs.features", "model.kwargs.out_channels"):
    assert key in msg
  assert "model.kwargs.depth" not in msg
  assert _snapshot(wd) == before and (wd / "config.json").read_text() == saved

  # A resume that changes no shape continues and records its start.
  c.train.num_steps = 3
  loop.train_and_evaluate(c, str(wd))
  info = json.loads((wd / "run_info.json").read_text())["starts"]
  assert [s["start_step"] for s in info] == [0, 2]
  assert json.loads((wd / "config.json").read_text())["train"]["num_steps"] == 3


def test_a_run_that_cannot_start_writes_nothing(tiny_config, tmp_path):
  c = tiny_config
  c.model.name = "no_such_model"
  with pytest.raises((KeyError, ValueError), match="no_such_model"):
    loop.train_and_evaluate(c, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_one_initialisation_path_from_one_root_key(tiny_config):
  """Every network's variables come from state.init_variables with a stream of
  PRNGKey(config.seed): the task's step-0 state, evaluate's shapes and a GAN's D."""
  c = tiny_config
  model = components.model(c)
  fresh = tasks.build(c, model).fresh_state()
  direct = components.init_variables(c, model)
  for a, b in zip(jax.tree.leaves(fresh.params), jax.tree.leaves(direct["params"])):
    np.testing.assert_array_equal(np.asarray(a), b)
  abstract = components.init_variables(c, model, abstract=True)
  assert jax.tree.map(np.shape, abstract) == jax.tree.map(np.shape, direct)
  np.testing.assert_array_equal(np.asarray(fresh.rng), np.asarray(state_lib.rng(c.seed, "step")))
  # Streams are fold_in of the root key, so they differ from each other and with the seed.
  keys = {s: np.asarray(state_lib.rng(0, s)).tobytes() for s in state_lib.STREAMS}
  assert len(set(keys.values())) == len(keys)
  c2 = c.copy_and_resolve_references()
  c2.seed = 1
  other = components.init_variables(c2, model)
  assert not any(np.array_equal(a, b) for a, b in
                 zip(jax.tree.leaves(other["params"]), jax.tree.leaves(direct["params"]))
                 if a.std() > 0)

  c.task = "gan"
  c.gan.disc.kwargs = dict(features=8, n_layers=2)
  gan = tasks.build(c, model)
  state = gan.fresh_state()
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(direct["params"])):
    np.testing.assert_array_equal(np.asarray(a), b)  # G: the same params as regression
  x = np.zeros((1, 32, 32, 3), np.float32)
  d = state_lib.init_variables(gan.discriminator, c.seed, x, x, stream="discriminator")
  for a, b in zip(jax.tree.leaves(state.d_params), jax.tree.leaves(d["params"])):
    np.testing.assert_array_equal(np.asarray(a), b)
