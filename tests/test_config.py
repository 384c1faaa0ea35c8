"""The config is one checked description of a run: schema, loading, overrides, errors.

In-process tests of `enhance_jax.config`, then the entry points end to end: every user mistake
is one `error:` line (the last), exit status 1, and nothing written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest

from enhance_jax import config as config_lib
from enhance_jax.config import ConfigError, base_config, load_config

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, body: str, name: str = "cfg.py") -> Path:
  path = tmp_path / name
  path.write_text("from enhance_jax.config import base_config\n\n\ndef get_config(arg=None):\n"
                  "  c = base_config()\n" + "".join(f"  {line}\n" for line in body.splitlines())
                  + "  return c\n")
  return path


# --- the schema -----------------------------------------------------------------------------------

def test_every_key_code_reads_is_in_the_schema():
  """The keys that used to be read with a fallback default are defined once, in base_config()."""
  c = base_config()
  for key in ("eval.batch_size", "eval.fid_weights", "eval.ssim_threshold", "optimizer.boundaries",
              "optimizer.momentum", "baseline.name", "baseline.kwargs", "mesh.min_shard_size",
              "optimizer.end_lr_factor", "task", "evals", "gan.optimizer.boundaries",
              "gan.optimizer.momentum"):
    config_lib.get(c, key)
  assert c.mesh.min_shard_size == 2**14 and c.optimizer.end_lr_factor == 0.05


def test_no_fallback_defaults_in_the_package():
  """`config.x.get("key", fallback)` would be a second default: none in the library."""
  import re
  pattern = re.compile(r"(config|cfg|data_cfg)(\.\w+)*\.get\(\"\w+\", ")
  offenders = []
  for path in (REPO / "enhance_jax").rglob("*.py"):
    if "configs" in path.parts:
      continue
    for i, line in enumerate(path.read_text().splitlines(), 1):
      if pattern.search(line):
        offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
  assert not offenders, "\n".join(offenders)


def test_every_shipped_config_passes_the_schema():
  names = config_lib.shipped_configs()
  assert "default" in names and "pretrained/dncnn_s25" in names
  for name in names:
    load_config(name)


# --- loading --------------------------------------------------------------------------------------

def test_unknown_key_in_a_config_file_names_file_key_and_closest(tmp_path):
  path = _write(tmp_path, "c.data.patchsize = 40")
  with pytest.raises(ConfigError) as e:
    load_config(str(path))
  msg = str(e.value)
  assert str(path) in msg and "config.data.patchsize" in msg and "config.data.patch_size" in msg
  assert "\n" not in msg


def test_unknown_top_level_section_lists_the_real_ones(tmp_path):
  with pytest.raises(ConfigError, match=r"config.trian .*did you mean config.train"):
    load_config(str(_write(tmp_path, "c.trian = dict(num_steps=3)")))


def test_wrong_type_in_a_config_file(tmp_path):
  with pytest.raises(ConfigError, match=r"cfg.py:6: .*batch_size.*cannot be cast"):
    load_config(str(_write(tmp_path, "c.train.batch_size = '8'")))


@pytest.mark.parametrize("line,key", [
    ("c.train.batch_size = 0", "train.batch_size"),
    ("c.train.log_every = 0", "train.log_every"),
    ("c.train.checkpoint_every = 0", "train.checkpoint_every"),
    ("c.train.keep_checkpoints = 0", "train.keep_checkpoints"),
    ("c.data.patch_size = -4", "data.patch_size"),
    ("c.train.dtype = 'float16'", "train.dtype"),
    ("c.task = 'gann'", "task"),
    ("c.model.name = 'unetx'", "model.name"),
    ("c.data.name = 'bsd86'", "data.name"),
    ("c.data.degrade = 'gaussian_noise(sigma=25)|'", "data.degrade"),
    ("c.data.degrade = 'gaussian_noise(sigm=25)'", "data.degrade"),
    ("c.loss = 'l3'", "loss"),
])
def test_bad_values_are_refused_naming_the_key(tmp_path, line, key):
  with pytest.raises(ConfigError) as e:
    load_config(str(_write(tmp_path, line)))
  assert f"config.{key}" in str(e.value) and "\n" not in str(e.value)


def test_syntax_error_names_file_and_line(tmp_path):
  path = tmp_path / "broken.py"
  path.write_text("def get_config(:\n  pass\n")
  with pytest.raises(ConfigError, match=r"broken.py:1: syntax error"):
    load_config(str(path))


def test_config_without_get_config_or_wrong_return(tmp_path):
  (tmp_path / "a.py").write_text("X = 1\n")
  (tmp_path / "b.py").write_text("def get_config():\n  return {'seed': 1}\n")
  with pytest.raises(ConfigError, match="defines no get_config"):
    load_config(str(tmp_path / "a.py"))
  with pytest.raises(ConfigError, match="not an ml_collections.ConfigDict"):
    load_config(str(tmp_path / "b.py"))


def test_shipped_config_by_name_path_and_arg():
  by_name = load_config("pretrained/dncnn_b:sigma=50,data=set12")
  by_path = load_config(str(REPO / "enhance_jax/configs/pretrained/dncnn_b.py"), "sigma=50,data=set12")
  assert by_name.to_dict() == by_path.to_dict()
  assert by_name.data.name == "set12" and by_name.data.degrade == "gaussian_noise(sigma=50)"
  with pytest.raises(FileNotFoundError, match="did you mean lowlight_gan"):
    load_config("lowlight_gann")


def test_parse_arg_is_typed_and_refuses_unknown_keys():
  got = config_lib.parse_arg("model=nlrn,sigma=50,fast=true", model="dncnn", sigma=25,
                             fast=False, profile="cpu")
  assert got == {"model": "nlrn", "sigma": 50, "fast": True, "profile": "cpu"}
  assert config_lib.parse_arg("15", positional="sigma", sigma=25.0) == {"sigma": 15.0}
  with pytest.raises(ConfigError, match="unknown key; did you mean profile"):
    config_lib.parse_arg("profle=cpu", profile="cpu")
  with pytest.raises(ConfigError, match="sigma=abc: expected int"):
    config_lib.parse_arg("sigma=abc", sigma=25)


# --- overrides ------------------------------------------------------------------------------------

def test_overrides_are_typed_by_the_schema():
  c = load_config("default", overrides=[("train.num_steps", "20"), ("eval.use_ema", "False"),
                                        ("optimizer.learning_rate", "1e-3"),
                                        ("gan.real_label", "(0.9, 1.0)"),
                                        ("model.kwargs.features", "8"),
                                        ("model.kwargs.newkw", "'x'"),
                                        ("data.degrade", "gaussian_noise(sigma=15)")])
  assert c.train.num_steps == 20 and c.eval.use_ema is False
  assert c.optimizer.learning_rate == 1e-3 and c.gan.real_label == (0.9, 1.0)
  assert c.model.kwargs.features == 8 and c.model.kwargs.newkw == "x"
  assert c.data.degrade == "gaussian_noise(sigma=15)"


@pytest.mark.parametrize("key,value,match", [
    ("train.num_step", "5", r"--config.train.num_step: unknown config key; did you mean "
                            r"config.train.num_steps\?"),
    ("trian.num_steps", "5", r"did you mean config.train\?"),
    ("train.num_steps", "five", r"--config.train.num_steps=five: expected int"),
    ("eval.use_ema", "maybe", r"expected bool"),
    ("evals.x.dta.name", "bsd68", r"an entry of config.evals sets keys of data or eval"),
    ("evals.x.data.nme", "bsd68", r"did you mean config.data.name"),
])
def test_bad_overrides_are_one_line(key, value, match):
  with pytest.raises(ConfigError, match=match) as e:
    load_config("default", overrides=[(key, value)])
  assert "\n" not in str(e.value)


def test_named_eval_sets_are_checked_and_overridable(tmp_path):
  c = load_config("default", overrides=[("evals.small.data.max_eval_images", "1"),
                                        ("evals.small.eval.crop_border", "2")])
  assert c.evals.small.data.max_eval_images == 1 and c.evals.small.eval.crop_border == 2
  with pytest.raises(ConfigError, match=r"config.evals.s.data.patchsize is not a config key"):
    load_config(str(_write(tmp_path, "c.evals.s = dict(data=dict(patchsize=3))")))
  with pytest.raises(ConfigError, match=r"config.evals.s.data.name: Unknown dataset 'bsd86'"):
    load_config(str(_write(tmp_path, "c.evals.s = dict(data=dict(name='bsd86'))")))


def test_apply_overrides_reports_changes_and_diff_lists_leaves():
  a = load_config("default")
  b = load_config("default")
  changes = config_lib.apply_overrides(b, [("model.kwargs.features", "24"),
                                           ("train.num_steps", "600")])
  assert changes == [("model.kwargs.features", 16, 24)]  # num_steps was already 600
  assert config_lib.diff(a, b) == ["model.kwargs.features"]
  assert config_lib.diff(a, b, sections=("data", "train")) == []


def test_saved_config_round_trips_with_tuples(tmp_path):
  c = load_config("lowlight_gan")
  config_lib.save_run_config(c, tmp_path)
  back = config_lib.load_run_config(tmp_path)
  assert back.gan.real_label == (0.9, 0.9) and isinstance(back.gan.real_label, tuple)
  assert config_lib.diff(c, back) == []
  (tmp_path / "config.json").write_text(json.dumps({**json.loads(
      (tmp_path / "config.json").read_text()), "bogus": 1}))
  with pytest.raises(ConfigError, match=r"config.json: config.bogus is not a config key"):
    config_lib.load_run_config(tmp_path)


def test_saved_config_of_an_older_version_gets_new_keys_defaults(tmp_path):
  """A config.json written before a key joined the schema loads with that key's default."""
  data = json.loads(load_config("default").to_json_best_effort())
  del data["train"]["max_skipped_fraction"], data["evals"]
  (tmp_path / "config.json").write_text(json.dumps(data))
  back = config_lib.load_run_config(tmp_path)
  assert back.train.max_skipped_fraction == base_config().train.max_skipped_fraction
  assert config_lib.diff(back, load_config("default")) == []


def test_python_overrides_type_checked():
  with pytest.raises(ConfigError, match=r"train.batch_size='4' is a str; expected int"):
    load_config("default", overrides={"train.batch_size": "4"})
  c = load_config("default", overrides={"model.kwargs": {"features": 4, "depth": 2}})
  assert isinstance(c.model.kwargs, ml_collections.ConfigDict) and c.model.kwargs.depth == 2


# --- entry points ---------------------------------------------------------------------------------

def _cli(module: str, *args, cwd=None):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  return subprocess.run([sys.executable, "-m", f"enhance_jax.{module}", *args], cwd=cwd,
                        capture_output=True, text=True, env=env, timeout=600)


def _one_error_line(proc) -> str:
  assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
  assert "Traceback" not in proc.stderr, proc.stderr
  lines = proc.stderr.strip().splitlines()
  errors = [l for l in lines if l.startswith("error:")]
  assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
  return errors[0]


@pytest.mark.parametrize("module", ["train", "evaluate", "enhance"])
def test_override_typo_is_one_line_in_every_entry_point(tmp_path, module):
  extra = ([f"--input={tmp_path}/in.png", f"--output={tmp_path}/out.png"]
           if module == "enhance" else [])
  line = _one_error_line(_cli(module, "--config=enhance_jax/configs/default.py",
                              "--config.train.num_step=5", f"--workdir={tmp_path / 'w'}",
                              *extra, cwd=REPO))
  assert "did you mean config.train.num_steps" in line
  assert not (tmp_path / "w").exists()


def test_train_refuses_bad_config_file_before_writing(tmp_path):
  path = _write(tmp_path, "c.data.patchsize = 40")
  line = _one_error_line(_cli("train", f"--config={path}", f"--workdir={tmp_path / 'w'}"))
  assert "config.data.patchsize" in line and "config.data.patch_size" in line
  line = _one_error_line(_cli("train", "--config.train.num_step=5", f"--workdir={tmp_path / 'w'}"))
  assert "num_steps" in line
  assert not (tmp_path / "w").exists()


TINY = ["--config.model.kwargs.features=4", "--config.model.kwargs.depth=2",
        "--config.data.patch_size=32", "--config.train.batch_size=4",
        "--config.train.num_steps=2", "--config.train.log_every=1", "--config.train.eval_every=2",
        "--config.train.checkpoint_every=2", "--config.data.eval_max_size=64",
        "--config.eval.grid_images=1"]


@pytest.mark.slow
def test_workdir_overrides_apply_to_the_saved_config_and_resume_checks_shapes(tmp_path):
  wd = tmp_path / "run"
  proc = _cli("train", f"--workdir={wd}", *TINY)
  assert proc.returncode == 0, proc.stderr
  saved = (wd / "config.json").read_bytes()
  assert (wd / "run_info.json").is_file()

  proc = _cli("evaluate", f"--workdir={wd}", "--config.data.max_eval_images=1",
              "--config.eval.use_ema=False", f"--output_json={tmp_path / 'e.json'}")
  assert proc.returncode == 0, proc.stderr
  assert "config: data.max_eval_images = 1 (was 0" in proc.stdout
  assert "raw parameters" in proc.stdout
  result = json.loads((tmp_path / "e.json").read_text())
  assert list(result) == ["eval"] and result["eval"]["num_images"] == 1
  assert result["eval"]["weights"].endswith("(raw parameters)")

  before = sorted(p.relative_to(wd) for p in wd.rglob("*"))
  line = _one_error_line(_cli("train", f"--workdir={wd}", *TINY,
                              "--config.model.kwargs.features=8", "--config.train.num_steps=4"))
  assert "model.kwargs.features" in line
  assert (wd / "config.json").read_bytes() == saved
  assert sorted(p.relative_to(wd) for p in wd.rglob("*")) == before


@pytest.mark.slow
def test_non_editable_install_runs_the_main_job_from_another_directory(tmp_path):
  """`pip install .` (a wheel, not editable) ships the configs: the default job runs anywhere."""
  wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
  built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(wheel_dir), str(REPO)], capture_output=True, text=True, timeout=900)
  assert built.returncode == 0, built.stderr[-3000:]
  wheel = next(wheel_dir.glob("enhance_jax-*.whl"))
  subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                  str(target), str(wheel)], check=True, capture_output=True, timeout=600)
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  env = dict(os.environ, PYTHONPATH=str(target),
             XLA_FLAGS="--xla_force_host_platform_device_count=1")
  where = subprocess.run([sys.executable, "-c", "import enhance_jax; print(enhance_jax.__file__)"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
  assert where.stdout.startswith(str(target)), where.stdout  # the installed copy, not the checkout
  proc = subprocess.run([sys.executable, "-m", "enhance_jax.train", "--workdir=W", *TINY],
                        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  assert (elsewhere / "W" / "config.json").is_file()
  proc = subprocess.run([sys.executable, "-m", "enhance_jax.train", "--config=lowlight_gan",
                         "--config.train.num_step=1"], cwd=elsewhere, env=env,
                        capture_output=True, text=True, timeout=600)
  assert "did you mean config.train.num_steps" in _one_error_line(proc)


def test_readme_config_example_runs_as_written(tmp_path, shared_data):
  """The README's Configs example loads as written and trains (2 tiny steps, both eval sets)."""
  del shared_data
  import re
  text = (REPO / "README.md").read_text()
  section = text[text.index("### Configs"):text.index("### Metrics and protocols")]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  path = tmp_path / "my_dncnn.py"
  path.write_text(code)
  c = load_config(str(path))
  assert c.model.name == "dncnn" and set(c.evals) == {"bsd68_s25", "set12_s25"}
  from enhance_jax import api
  small = load_config(str(path), overrides={
      "model.kwargs.depth": 3, "model.kwargs.features": 4, "train.batch_size": 4,
      "train.num_steps": 2, "train.eval_every": 2, "train.checkpoint_every": 2,
      "train.log_every": 1, "data.eval_max_size": 32, "data.max_eval_images": 1,
      "eval.grid_images": 1})
  api.train(small, tmp_path / "run")
  metrics = json.loads((tmp_path / "run" / "eval_metrics.json").read_text())
  assert set(metrics) == {"bsd68_s25", "set12_s25"}
  assert metrics["bsd68_s25"]["dataset"] == "bsd68" and metrics["set12_s25"]["dataset"] == "set12"
  assert all(m["num_images"] == 1 and m["step"] == 2 for m in metrics.values())
