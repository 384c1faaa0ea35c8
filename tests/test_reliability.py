"""Reliability (issue #9): bad inputs get one clear line and no partial output,
NaN/Inf steps are caught, and runs are deterministic.

Entry points are exercised through their command lines (subprocesses, started
together in one fixture) for exit codes, stderr and leftovers, and in-process
where that is enough. Only `enhance` is imported here: the entry-point modules
define the same absl flags, so two of them cannot share a process.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from enhance_jax.config import base_config
from enhance_jax.data import degradations, imageio, pipeline, sources
from enhance_jax.data.imageio import ImageReadError
from subprocess_env import subprocess_env

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- helpers

def _rand(h, w, c=3, seed=0, dtype=np.uint8):
  hi = 65536 if dtype == np.uint16 else 256
  arr = np.random.default_rng(seed).integers(0, hi, (h, w, c)).astype(dtype)
  return arr[..., 0] if c == 1 else arr


def _encode(arr, fmt, **kw) -> bytes:
  buf = io.BytesIO()
  (arr if isinstance(arr, Image.Image) else Image.fromarray(arr)).save(buf, format=fmt, **kw)
  return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data)
  return path


def _good_png(h=48, w=48, seed=0) -> bytes:
  return _encode(_rand(h, w, seed=seed), "PNG")


def tiny_config(**data_kwargs) -> ml_collections.ConfigDict:
  c = base_config()
  c.model.kwargs = ml_collections.ConfigDict(dict(features=4, depth=2, out_channels=3,
                                                  residual=True))
  c.data.patch_size = 32
  c.data.eval_max_size = 32
  c.data.max_eval_images = 2
  c.eval.grid_images = 1
  c.train.batch_size = 4
  c.train.num_steps = 6
  c.train.log_every = 1
  c.train.eval_every = 100
  c.train.checkpoint_every = 1
  c.optimizer.warmup_steps = 2
  if data_kwargs:
    c.data.name = "image_folder"
    c.data.kwargs = ml_collections.ConfigDict(data_kwargs)
  return c


def _save_weights(path: Path, features: int = 4, shipped_default: bool = False) -> Path:
  """Random variables of the tiny U-Net (with `features`) as a variables checkpoint; with
  `shipped_default`, of the model the entry points use without --config (configs/default.py)
  at TINY_FLAGS' depth 2."""
  from enhance_jax.config import load_config
  from enhance_jax.training import components
  from enhance_jax.weights import variables as variables_io
  c = tiny_config()
  if shipped_default:
    c = load_config()
    c.model.kwargs.depth = 2
  c.model.kwargs.features = features
  v = components.init_variables(c, components.model(c))
  return variables_io.save_variables(path, v)


def _one_line_error(stderr: str, *needles: str) -> str:
  """The last stderr line: must be 'error: ...' containing every needle, no traceback."""
  assert "Traceback" not in stderr, stderr
  lines = [l for l in stderr.strip().splitlines() if l.strip()]
  assert lines, "no error message"
  last = lines[-1]
  assert "error" in last.lower(), stderr
  for n in needles:
    assert n in last, (n, stderr)
  return last


# ------------------------------------------------------------ image decoding

def _variants() -> dict[str, bytes]:
  png, jpg = _good_png(), _encode(_rand(40, 40), "JPEG", quality=90)
  tif = _encode(_rand(40, 40), "TIFF")
  return {
      "truncated.png": png[: len(png) // 2],
      "header_only.png": png[:40],
      "truncated.jpg": jpg[: len(jpg) // 2],
      "truncated.tif": tif[: len(tif) // 3],
      "empty.png": b"",
      "garbage.png": os.urandom(300),
      "text.jpg": b"this is not an image\n" * 10,
      "bad_crc.png": png[:60] + bytes([png[60] ^ 0xFF]) + png[61:],
  }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_read_image_bad_files_raise_one_line_error_naming_file(tmp_path, name):
  path = _write(tmp_path / name, _variants()[name])
  with pytest.raises(ImageReadError) as e:
    imageio.read_image(path)
  msg = str(e.value)
  assert msg.startswith(str(path) + ": ") and "\n" not in msg
  if name == "empty.png":
    assert "empty" in msg
  elif name.startswith("truncated"):
    assert "truncated" in msg or "corrupt" in msg


def test_read_image_missing_file_and_folders(tmp_path):
  with pytest.raises(ImageReadError, match="nope.png: cannot open"):
    imageio.read_image(tmp_path / "nope.png")
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "notes.txt").write_text("no images here")
  with pytest.raises(ImageReadError, match="empty: contains no image files"):
    imageio.list_images(tmp_path / "empty")
  with pytest.raises(ImageReadError, match="missing: not a directory"):
    imageio.list_images(tmp_path / "missing")


def test_16bit_alpha_palette_cmyk_are_handled(tmp_path):
  g16 = (np.arange(24 * 20, dtype=np.uint16).reshape(24, 20) * 130)
  _write(tmp_path / "g16.png", _encode(Image.fromarray(g16), "PNG"))
  rgb16 = _rand(24, 20, 3, dtype=np.uint16)
  imageio.write_image(tmp_path / "rgb16.png", rgb16)  # 16-bit RGB PNG (own writer)
  rgba = _rand(24, 20, 4)
  _write(tmp_path / "rgba.png", _encode(rgba, "PNG"))
  _write(tmp_path / "la.png", _encode(Image.fromarray(_rand(24, 20, 2), "LA"), "PNG"))
  pal = Image.fromarray(_rand(24, 20)).convert("P")
  pal.info["transparency"] = 0
  _write(tmp_path / "pal.png", _encode(pal, "PNG", transparency=0))
  _write(tmp_path / "cmyk.jpg", _encode(Image.fromarray(_rand(24, 20, 4), "CMYK"), "JPEG"))
  _write(tmp_path / "one_bit.bmp", _encode(Image.fromarray(_rand(24, 20, 1) > 128), "BMP"))

  a = imageio.read_image(tmp_path / "g16.png", keep_16bit=True)
  assert a.dtype == np.uint16 and a.shape == (24, 20, 1)
  np.testing.assert_array_equal(a[..., 0], g16)
  assert imageio.read_image(tmp_path / "g16.png", channels=3).shape == (24, 20, 3)
  b = imageio.read_image(tmp_path / "rgb16.png", keep_16bit=True)
  assert b.shape == (24, 20, 3)
  rgba_read = imageio.read_image(tmp_path / "rgba.png")
  np.testing.assert_array_equal(rgba_read, rgba[..., :3])  # alpha dropped, colour kept
  for name in ("la.png", "pal.png", "cmyk.jpg", "one_bit.bmp"):
    for ch in (1, 3):
      arr = imageio.read_image(tmp_path / name, channels=ch)
      assert arr.dtype == np.uint8 and arr.shape == (24, 20, ch), name


def test_wrong_channel_count_names_file():
  with pytest.raises(ImageReadError, match=r"x\.tif: has 2 channels, cannot convert to 3"):
    imageio.convert_channels(np.zeros((4, 4, 2), np.uint8), 3, "x.tif")


# --------------------------------------------------- dataset sources (folder)

def test_image_folder_errors_name_the_folder_or_file(tmp_path):
  from enhance_jax.data.builders import image_folder  # noqa: F401  (registers)
  (tmp_path / "empty").mkdir()
  with pytest.raises(FileNotFoundError, match=r"empty: contains no image files"):
    sources.DATASETS.get("image_folder", split="train", target_dir=str(tmp_path / "empty"))
  with pytest.raises(ValueError, match="target_dir"):
    sources.DATASETS.get("image_folder", split="train")
  _write(tmp_path / "t" / "a.png", _good_png())
  _write(tmp_path / "i" / "b.png", _good_png())
  with pytest.raises(ValueError, match=r"unmatched.*'a'.*'b'"):
    sources.DATASETS.get("image_folder", split="train", target_dir=str(tmp_path / "t"),
                         input_dir=str(tmp_path / "i"))
  bad = _write(tmp_path / "t" / "c.png", _variants()["truncated.png"])
  src = sources.DATASETS.get("image_folder", split="train", target_dir=str(tmp_path / "t"))
  with pytest.raises(ImageReadError, match=str(bad)):
    [src[i] for i in range(len(src))]


def test_train_batches_error_names_corrupt_and_too_small_files(tmp_path):
  c = tiny_config().data
  bad = _write(tmp_path / "bad.png", _variants()["truncated.png"])
  small = _write(tmp_path / "small.png", _good_png(20, 50))
  for path, pattern in ((bad, "truncated|corrupt"), (small, r"20x50.*smaller than the patch")):
    batches = pipeline.train_batches(sources.FileSource([path], channels=3), c, 0, 2, slice(0, 2))
    with pytest.raises(ValueError, match=pattern) as e:
      next(batches)
    assert str(path) in str(e.value)


def test_tfds_builder_corrupt_file_names_it(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  from enhance_jax.data import builders  # noqa: F401
  man = tmp_path / "manual"
  _write(man / "001.png", _encode(_rand(12, 16, 1), "PNG"))
  bad = _write(man / "002.png", _variants()["truncated.png"])
  with pytest.raises(Exception) as e:
    sources.DATASETS.get("set12", split="test", data_dir=str(tmp_path / "tfds"),
                         manual_dir=str(man))
  assert isinstance(e.value, (ImageReadError, FileNotFoundError, ValueError)), repr(e.value)
  assert str(bad) in str(e.value)
  assert not list((tmp_path / "tfds").rglob("*.array_record*")), "partial dataset left behind"


# ----------------------------------------------------- evaluate and enhance

def test_wrong_architecture_weights_list_each_parameter(tmp_path):
  from enhance_jax.training import components
  weights = _save_weights(tmp_path / "w8", features=8)
  c = tiny_config()
  c.init_checkpoint = str(weights)
  with pytest.raises(ValueError) as e:
    components.load_inference_variables(c, components.model(c), None)
  msg = str(e.value)
  assert msg.startswith(str(weights)) and "does not fit the model" in msg and "\n" not in msg
  assert msg.count("expected") >= 3 and "['params']" in msg  # one entry per parameter


def test_enhance_handles_modes_and_small_images(tmp_path):
  from enhance_jax import inference
  from enhance_jax.training import components
  c = tiny_config()
  model = components.model(c)
  enh = inference.Enhancer(model, components.init_variables(c, model), 3, tile=16, overlap=4)
  cases = {
      "rgba.png": (_encode(_rand(20, 24, 4), "PNG"), "RGBA"),
      "g16.png": (_encode(Image.fromarray(_rand(20, 24, 1, dtype=np.uint16)), "PNG"), "I;16"),
      "gray.png": (_encode(_rand(20, 24, 1), "PNG"), "L"),
      "tiny.png": (_encode(_rand(5, 7), "PNG"), "RGB"),
      "pal.bmp": (_encode(Image.fromarray(_rand(20, 24)).convert("P"), "BMP"), "RGB"),
  }
  for name, (data, mode) in cases.items():
    src = _write(tmp_path / "in" / name, data)
    dst = tmp_path / "out" / (src.stem + ".png")
    inference.enhance_file(enh, src, dst)
    with Image.open(dst) as im:
      assert im.size == Image.open(src).size and im.mode.startswith(mode[:1]), (name, im.mode)
  bad = _write(tmp_path / "in" / "bad.png", _variants()["truncated.png"])
  with pytest.raises(ImageReadError, match=str(bad)):
    inference.enhance_file(enh, bad, tmp_path / "out" / "bad.png")
  assert not (tmp_path / "out" / "bad.png").exists()
  assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


# -------------------------------------------------------- command lines



TINY_FLAGS = ["--config.model.kwargs.features=4", "--config.model.kwargs.depth=2",
              "--config.data.patch_size=32", "--config.train.batch_size=4",
              "--config.train.num_steps=3", "--config.data.eval_max_size=32"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
  """Starts every command-line case at once; returns name -> (returncode, stderr, tmp)."""
  tmp = tmp_path_factory.mktemp("cli")
  weights = _save_weights(tmp / "w4")
  default_weights = _save_weights(tmp / "w4_default", shipped_default=True)  # enhance: no --config
  wrong = _save_weights(tmp / "w8", features=8, shipped_default=True)
  _write(tmp / "good" / "a.png", _good_png(48, 48, 1))
  _write(tmp / "good" / "b.png", _good_png(48, 48, 2))
  _write(tmp / "mixed" / "a.png", _good_png())
  _write(tmp / "mixed" / "b.png", _variants()["truncated.png"])
  _write(tmp / "small" / "a.png", _good_png(20, 40))
  _write(tmp / "small_ok" / "a.png", _good_png(20, 40))
  _write(tmp / "small_ok" / "b.png", _encode(_rand(21, 37, 4), "PNG"))  # odd size, alpha
  (tmp / "empty").mkdir()
  (tmp / "weights_src" / "zero_dce").mkdir(parents=True)
  _write(tmp / "weights_src" / "zero_dce" / "Epoch99.pth", b"PK\x03\x04" + b"\0" * 60)

  def folder_config(name: str, eval_name: str | None = None) -> Path:
    path = tmp / f"config_{name}.py"
    path.write_text(textwrap.dedent(f"""
        from enhance_jax.config import base_config
        def get_config():
          c = base_config()
          c.data.name = "image_folder"
          c.data.kwargs.target_dir = {str(tmp / name)!r}
          c.data.eval_max_size = 32
          c.init_checkpoint = {str(weights)!r}
          c.model.kwargs.features = 4
          c.model.kwargs.depth = 2
          return c
        """))
    return path

  py = sys.executable
  cases = {
      "unknown_key": [py, "-m", "enhance_jax.train", f"--workdir={tmp / 'wd_key'}",
                      "--config.train.nonexistent=1"],
      "train_corrupt": [py, "-m", "enhance_jax.train", f"--config={folder_config('mixed')}",
                        f"--workdir={tmp / 'wd_corrupt'}", *TINY_FLAGS],
      "train_small": [py, "-m", "enhance_jax.train", f"--config={folder_config('small')}",
                      f"--workdir={tmp / 'wd_small'}", *TINY_FLAGS],
      "evaluate_corrupt": [py, "-m", "enhance_jax.evaluate", f"--config={folder_config('mixed')}",
                           f"--output_json={tmp / 'eval_out' / 'm.json'}"],
      "evaluate_empty": [py, "-m", "enhance_jax.evaluate", f"--config={folder_config('empty')}",
                         f"--output_json={tmp / 'eval_empty' / 'm.json'}"],
      "enhance_corrupt": [py, "-m", "enhance_jax.enhance", f"--input={tmp / 'mixed'}",
                          f"--output={tmp / 'enh_out'}", f"--config.init_checkpoint={default_weights}",
                          *TINY_FLAGS[:2]],
      "enhance_wrong_arch": [py, "-m", "enhance_jax.enhance", f"--input={tmp / 'good' / 'a.png'}",
                             f"--output={tmp / 'enh_wrong' / 'a.png'}",
                             f"--config.init_checkpoint={wrong}", *TINY_FLAGS[:2]],
      "evaluate_small": [py, "-m", "enhance_jax.evaluate", f"--config={folder_config('small_ok')}",
                         f"--output_json={tmp / 'eval_small' / 'm.json'}"],
      "train_nan": [py, "-m", "enhance_jax.train", f"--workdir={tmp / 'wd_nan'}", *TINY_FLAGS,
                    "--config.train.num_steps=8", "--config.train.log_every=1",
                    "--config.train.checkpoint_every=1", "--config.optimizer.learning_rate=1e30",
                    "--config.optimizer.grad_clip_norm=0", "--config.optimizer.warmup_steps=0",
                    "--config.optimizer.schedule=constant", "--config.data.max_eval_images=1"],
      "import_corrupt": [py, "-m", "enhance_jax.import_weights", "--model=zerodce",
                         f"--source_dir={tmp / 'weights_src'}",
                         f"--output_dir={tmp / 'imported'}"],
  }
  procs = {k: subprocess.Popen(v, cwd=tmp, env=subprocess_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for k, v in cases.items()}
  results = {}
  for k, p in procs.items():
    out, err = p.communicate(timeout=900)
    results[k] = (p.returncode, err, out)
  return results, tmp


def test_cli_unknown_config_key(cli):
  (rc, err, _), tmp = cli[0]["unknown_key"], cli[1]
  assert rc != 0
  _one_line_error(err, "--config.train.nonexistent", "unknown config key", "num_steps")
  assert not (tmp / "wd_key").exists()


def test_cli_train_corrupt_image(cli):
  (rc, err, out), tmp = cli[0]["train_corrupt"], cli[1]
  assert rc == 1, (out, err)
  _one_line_error(err, str(tmp / "mixed" / "b.png"), "truncated")
  assert not list((tmp / "wd_corrupt").glob("checkpoints/*"))


def test_cli_train_image_smaller_than_patch(cli):
  (rc, err, out), tmp = cli[0]["train_small"], cli[1]
  assert rc == 1, (out, err)
  _one_line_error(err, str(tmp / "small" / "a.png"), "20x40", "smaller than the patch")


def test_cli_evaluate_corrupt_and_empty_write_no_json(cli):
  results, tmp = cli
  rc, err, out = results["evaluate_corrupt"]
  assert rc == 1, (out, err)
  _one_line_error(err, str(tmp / "mixed" / "b.png"))
  assert not (tmp / "eval_out").exists()
  rc, err, out = results["evaluate_empty"]
  assert rc == 1, (out, err)
  _one_line_error(err, str(tmp / "empty"), "no image files")
  assert not (tmp / "eval_empty").exists()


def test_cli_evaluate_images_smaller_than_patch_are_fine(cli):
  (rc, err, out), tmp = cli[0]["evaluate_small"], cli[1]
  assert rc == 0, (out, err)
  result = json.loads((tmp / "eval_small" / "m.json").read_text())
  assert list(result) == ["eval"]  # the config's one (implicit) evaluation set
  assert result["eval"]["num_images"] == 2 and np.isfinite(result["eval"]["psnr"])


def test_cli_train_nan_stops_naming_step_and_checkpoint(cli):
  (rc, err, out), tmp = cli[0]["train_nan"], cli[1]
  assert rc == 1, (out, err)
  last = _one_line_error(err, "Non-finite loss or gradient at step", "Last good checkpoint: ")
  step = int(last.split("at step ")[1].split()[0])
  logged = [int(l.split()[1].split("/")[0]) for l in out.splitlines() if l.startswith("step ")]
  assert step == max(logged), out  # log_every=1: the bad step is logged, then the run stops
  from enhance_jax.training.checkpointing import Checkpointer
  ckpt = Checkpointer(tmp / "wd_nan" / "checkpoints", async_save=False)
  latest = ckpt.latest_step()
  ckpt.close()
  if step > 1:
    assert latest == step - 1 and f"{tmp / 'wd_nan' / 'checkpoints' / str(latest)}." in last
  else:
    assert latest is None


def test_cli_enhance_corrupt_input_writes_nothing(cli):
  (rc, err, out), tmp = cli[0]["enhance_corrupt"], cli[1]
  assert rc == 1, (out, err)
  _one_line_error(err, str(tmp / "mixed" / "b.png"))
  assert not (tmp / "enh_out").exists() or not list((tmp / "enh_out").iterdir())


def test_cli_enhance_wrong_architecture(cli):
  (rc, err, out), tmp = cli[0]["enhance_wrong_arch"], cli[1]
  assert rc == 1, (out, err)
  last = _one_line_error(err, str(tmp / "w8"), "does not fit the model", "expected")
  assert last.count("expected") >= 3
  assert not (tmp / "enh_wrong").exists() or not list((tmp / "enh_wrong").iterdir())


def test_cli_import_weights_corrupt_file_writes_nothing(cli):
  (rc, err, out), tmp = cli[0]["import_corrupt"], cli[1]
  assert rc == 1, (out, err)
  _one_line_error(err, "Epoch99.pth", "cannot read torch file")
  assert not (tmp / "imported").exists() or not list((tmp / "imported").iterdir())


# ----------------------------------------------------------------- numerics

POISON = "reliability_poison"


def _poison_source(split: str = "train", channels: int | None = 3, **unused) -> sources.ListSource:
  """Five noise images and one pure white one (the poison) of 48x48."""
  del unused
  exs = [{"target": _rand(48, 48, 3, seed=i), "name": f"noise{i}"} for i in range(5)]
  exs.append({"target": np.full((48, 48, 3), 255, np.uint8), "name": "white"})
  return sources.ListSource(exs if split == "train" else exs[:1])


def _nan_if_white(batch, key):
  """Input NaN for images whose target is all white: the loss and gradients of
  exactly the steps whose batch holds the poison are NaN."""
  del key
  white = jnp.all(batch["target"] == 1.0, axis=(1, 2, 3))[:, None, None, None]
  return {**batch, "input": jnp.where(white, jnp.nan, batch["input"])}


if POISON not in sources.DATASETS:
  sources.register(POISON)(_poison_source)
if "reliability_nan_if_white" not in degradations.DEGRADATIONS:
  degradations.register("reliability_nan_if_white")(_nan_if_white)


def _poison_config(policy: str) -> ml_collections.ConfigDict:
  c = tiny_config()
  c.data.name = POISON
  c.data.degrade = "reliability_nan_if_white"
  c.train.nan_policy = policy
  c.train.num_steps = 5
  c.train.ema_decay = 0.0
  c.train.keep_checkpoints = 10
  c.train.max_skipped_fraction = 1.0  # the skip tests count updates (test_attacks: the limit)
  return c


def _poisoned_steps(c) -> list[int]:
  """1-based loop steps whose batch holds the white image (from the pipeline itself)."""
  src = _poison_source()
  it = pipeline.train_batches(src, c.data, c.seed, c.train.batch_size,
                              slice(0, c.train.batch_size))
  return [s + 1 for s in range(c.train.num_steps)
          if np.any(np.all(next(it)["target"] == 1.0, axis=(1, 2, 3)))]


def _ckpt(workdir: Path, step: int) -> dict:
  from enhance_jax.training.checkpointing import Checkpointer
  ckpt = Checkpointer(workdir / "checkpoints", async_save=False)
  try:
    return ckpt.restore_raw(step)
  finally:
    ckpt.close()


def _equal(a, b) -> bool:
  return jax.tree.structure(a) == jax.tree.structure(b) and all(
      np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_nan_stop_names_step_and_last_complete_checkpoint(tmp_path):
  from enhance_jax.training import loop
  from enhance_jax.training.checkpointing import Checkpointer
  c = _poison_config("stop")
  bad = _poisoned_steps(c)[0]
  with pytest.raises(loop.NonFiniteLossError) as e:
    loop.train_and_evaluate(c, tmp_path)
  msg = str(e.value)
  assert f"at step {bad} " in msg, (bad, msg)
  ckpt = Checkpointer(tmp_path / "checkpoints", async_save=False)
  latest = ckpt.latest_step()
  ckpt.close()
  if bad == 1:
    assert latest is None and "none" in msg
  else:
    assert latest == bad - 1, (latest, msg)
    assert f"Last good checkpoint: {tmp_path / 'checkpoints' / str(bad - 1)}." in msg
    state = _ckpt(tmp_path, latest)
    assert int(state["bad_step"]) == -1
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["params"]))


def test_nan_skip_drops_exactly_the_bad_updates(tmp_path):
  from enhance_jax.training import loop
  c = _poison_config("skip")
  bad = _poisoned_steps(c)
  assert bad, "the poison image never appears; raise num_steps"
  loop.train_and_evaluate(c, tmp_path)
  for s in range(1, c.train.num_steps + 1):
    state = _ckpt(tmp_path, s)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state))
    if s > 1:
      prev = _ckpt(tmp_path, s - 1)
      same = _equal(state["params"], prev["params"]) and _equal(state["opt_state"],
                                                                prev["opt_state"])
      assert same == (s in bad), (s, bad)
  assert int(_ckpt(tmp_path, c.train.num_steps)["bad_step"]) == bad[0] - 1


# ------------------------------------------------------------- determinism

def test_two_runs_are_bit_identical(tmp_path):
  from enhance_jax.training import loop
  c = tiny_config()
  c.train.num_steps = 4
  c.train.checkpoint_every = 4
  for name in ("a", "b"):
    loop.train_and_evaluate(c, tmp_path / name)
  assert _equal(_ckpt(tmp_path / "a", 4), _ckpt(tmp_path / "b", 4))

  def losses(w):
    return [(r["step"], r["loss"]) for r in map(json.loads, (w / "metrics.jsonl").open())
            if r["split"] == "train"]
  assert losses(tmp_path / "a") == losses(tmp_path / "b") and len(losses(tmp_path / "a")) == 4


def _batches(src, cfg, seed, n, rows=slice(0, 4), start=0, gb=4):
  it = pipeline.train_batches(src, cfg, seed, gb, rows, start)
  return [next(it)["target"] for _ in range(n)]


def test_data_order_is_a_pure_function_of_seed_step_and_process():
  cfg = tiny_config().data
  src = sources.ListSource([{"target": _rand(40, 40, 3, seed=i), "name": str(i)}
                            for i in range(6)])
  ref = _batches(src, cfg, 3, 6)
  assert all(np.array_equal(a, b) for a, b in zip(ref, _batches(src, cfg, 3, 6)))
  # resume at step 4 == steps 4, 5 of the full stream
  assert all(np.array_equal(a, b) for a, b in zip(ref[4:], _batches(src, cfg, 3, 2, start=4)))
  # more worker threads, same batches
  cfg_mt = cfg.copy_and_resolve_references()
  cfg_mt.num_workers = 3
  assert all(np.array_equal(a, b) for a, b in zip(ref, _batches(src, cfg_mt, 3, 6)))
  # two processes' rows assemble the global batch
  lo = _batches(src, cfg, 3, 6, rows=slice(0, 2))
  hi = _batches(src, cfg, 3, 6, rows=slice(2, 4))
  assert all(np.array_equal(r, np.concatenate([a, b])) for r, a, b in zip(ref, lo, hi))
  # another seed, another stream
  assert not all(np.array_equal(a, b) for a, b in zip(ref, _batches(src, cfg, 4, 6)))


def test_epoch_permutations_cover_the_source_and_depend_on_seed_and_epoch():
  cfg = tiny_config().data
  src = sources.ListSource([{"target": _rand(40, 40, 3, seed=i), "name": str(i)}
                            for i in range(7)])
  ex = pipeline.TrainExamples(src, cfg, seed=5)
  epochs = [[ex.index(e * 7 + j) for j in range(7)] for e in range(4)]
  assert all(sorted(e) == list(range(7)) for e in epochs)
  assert len({tuple(e) for e in epochs}) > 1
  again = pipeline.TrainExamples(src, cfg, seed=5)
  assert [[again.index(e * 7 + j) for j in range(7)] for e in reversed(range(4))] == epochs[::-1]
  other = pipeline.TrainExamples(src, cfg, seed=6)
  assert [[other.index(e * 7 + j) for j in range(7)] for e in range(4)] != epochs
  np.testing.assert_array_equal(ex[9]["target"], again[9]["target"])
