"""Replays the red-team attacks of issue #14 against the library and entry points.

Every attack is one test whose id starts with the outcome class it guards
against (`silent_wrong`, `data_loss`, `hang`, `traceback`, `misleading`) and
ends with what must happen instead, so the count of handled attacks can only
go up. Most attacks call library functions in-process; the few whose point is
an exit code or the last stderr line run the entry point as a subprocess.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from enhance_jax import inference, models
from enhance_jax.data import imageio
from subprocess_env import subprocess_env

ROOT = Path(__file__).resolve().parents[1]


def _rand(h, w, c=3, seed=0, dtype=np.uint8):
  hi = 65536 if dtype == np.uint16 else 256
  arr = np.random.default_rng(seed).integers(0, hi, (h, w, c)).astype(dtype)
  return arr[..., 0] if c == 1 else arr


def _png(path: Path, arr) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(arr).save(path)
  return path




def _last_error_line(stderr: str, *needles: str) -> str:
  assert "Traceback" not in stderr, stderr
  lines = [l for l in stderr.strip().splitlines() if l.strip()]
  assert lines and "error" in lines[-1].lower(), stderr
  for n in needles:
    assert n in lines[-1], (n, stderr)
  return lines[-1]


# ------------------------------------------------------------ 1: tiling

@pytest.fixture(scope="module")
def conv_enhancer():
  """A 3-layer 3x3 CNN (receptive radius 3) and a factory of Enhancers for it."""
  model = models.get("cnn", features=8, depth=3, out_channels=3)
  variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 16, 16, 3), np.float32))
  return lambda **kw: inference.Enhancer(model, variables, channels=3, **kw)


@pytest.mark.parametrize("tile,overlap,tile_batch", [
    (32, 32, 4),    # overlap == tile (today: 90 % black, exit 0)
    (8, 40, 3),     # overlap > tile
    (1, 3, 64),     # one-pixel tiles
    (9, 0, 5),      # no context (radius 3 > 0): exact away from the seams
    (500, 8, 4),    # tile larger than the image
    (37, 5, 1),     # odd sizes, one tile per pass
], ids=lambda v: str(v))
def test_silent_wrong__tiling_equals_whole_image(conv_enhancer, tile, overlap, tile_batch):
  image = np.random.default_rng(1).random((50, 43, 3), np.float32)
  whole = conv_enhancer(tile=0)(image)
  tiled = conv_enhancer(tile=tile, overlap=overlap, tile_batch=tile_batch)(image)
  assert tiled.shape == whole.shape
  if overlap >= 3:  # receptive radius 3 <= overlap: exact
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
  else:  # pixels 3+ away from every seam are exact
    def far(n):
      ok = np.zeros(n, bool)
      for _, _, a, b in inference.tile_windows(n, tile, overlap):
        ok[a + (3 if a else 0):b - (3 if b < n else 0)] = True
      return ok
    mask = far(50)[:, None] & far(43)[None, :]
    assert mask.sum() > 100
    np.testing.assert_allclose(tiled[mask], whole[mask], atol=1e-5)


@pytest.mark.parametrize("kw,flag", [({"tile": -1}, "--tile=-1"), ({"overlap": -2}, "--overlap=-2"),
                                     ({"tile_batch": 0}, "--tile_batch=0")],
                         ids=["tile_neg", "overlap_neg", "tile_batch_0"])
def test_traceback__bad_tiling_values_one_line(conv_enhancer, kw, flag):
  with pytest.raises(ValueError, match=flag) as e:
    conv_enhancer(**kw)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("tile,overlap,tile_batch", [(16, 4, 3), (8, 40, 2), (500, 8, 4), (0, 0, 4)],
                         ids=lambda v: str(v))
def test_batch_shape_is_what_the_run_uses(conv_enhancer, tile, overlap, tile_batch):
  """Enhancer.batch_shape (what a benchmark warms up on) is the shape of the forward passes:
  every batch has it, the last one possibly with fewer tiles."""
  enhancer = conv_enhancer(tile=tile, overlap=overlap, tile_batch=tile_batch)
  seen, run = [], enhancer._run
  enhancer._run = lambda tiles: (seen.append(tiles.shape), run(tiles))[1]
  enhancer(np.zeros((50, 43, 3), np.float32))
  want = enhancer.batch_shape(50, 43)
  assert seen[0] == want and all(s[1:] == want[1:] and s[0] <= want[0] for s in seen)


def test_tile_windows_partition_and_context():
  for n in (1, 7, 50, 100):
    for tile in (1, 3, 32, 200):
      for overlap in (0, 2, 32, 50):
        wins = inference.tile_windows(n, tile, overlap)
        kept = [i for _, _, a, b in wins for i in range(a, b)]
        assert kept == list(range(n))
        assert len({b - a for a, b, _, _ in wins}) == 1
        for a, b, ka, kb in wins:
          assert 0 <= a <= ka < kb <= b <= n
          assert ka - a >= overlap or a == 0
          assert b - kb >= overlap or b == n


# ------------------------------------------------------------ 5: overwrite

def test_data_loss__input_equals_output_refused(tmp_path):
  src = _png(tmp_path / "x.png", _rand(8, 8))
  with pytest.raises(ValueError, match="would overwrite the input"):
    inference.plan_outputs(src, src)
  with pytest.raises(ValueError, match="would overwrite the input"):
    inference.plan_outputs(src, tmp_path)  # output folder = the input's folder
  os.link(src, tmp_path / "hard.png")
  with pytest.raises(ValueError, match="would overwrite the input"):
    inference.plan_outputs(src, tmp_path / "hard.png")


def test_data_loss__same_stem_gives_distinct_outputs(tmp_path):
  for ext in ("png", "jpg", "tif"):
    _png(tmp_path / "in" / f"x.{ext}", _rand(8, 8))
  _png(tmp_path / "in" / "y.png", _rand(8, 8))
  pairs = inference.plan_outputs(tmp_path / "in", tmp_path / "out")
  outs = [b.name for _, b in pairs]
  assert sorted(outs) == ["x_jpg.png", "x_png.png", "x_tif.png", "y.png"]


def test_data_loss__folder_into_itself_refused(tmp_path):
  _png(tmp_path / "a.png", _rand(8, 8))
  _png(tmp_path / "b.jpg", _rand(8, 8))
  with pytest.raises(ValueError, match=r"a\.png.*overwrite the input"):
    inference.plan_outputs(tmp_path, tmp_path)


def test_data_loss__clash_with_renamed_output_names_both(tmp_path):
  _png(tmp_path / "in" / "x.png", _rand(8, 8))
  _png(tmp_path / "in" / "x.bmp", _rand(8, 8))
  _png(tmp_path / "in" / "x_png.png", _rand(8, 8))
  with pytest.raises(ValueError, match=r"x_png\.png.*x\.png.*x_png\.png"):
    inference.plan_outputs(tmp_path / "in", tmp_path / "out")


# ------------------------------------------------------------ 6: 16-bit colour

@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("channels", [3, 4], ids=["rgb", "rgba"])
def test_silent_wrong__16bit_colour_round_trips(tmp_path, ext, channels):
  import tifffile
  arr = _rand(9, 7, channels, dtype=np.uint16)
  path = tmp_path / f"a.{ext}"
  if ext == "tif":
    tifffile.imwrite(path, arr, photometric="rgb")
  else:
    imageio.write_image(path, arr)
  got = imageio.read_image(path, keep_16bit=True)
  assert got.dtype == np.uint16
  np.testing.assert_array_equal(got, arr[..., :3])
  assert imageio.read_image(path).dtype == np.uint8  # training scales to 8 bits


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_silent_wrong__enhance_file_keeps_16bit_colour(conv_enhancer, tmp_path, ext):
  import tifffile
  arr = _rand(12, 10, 3, dtype=np.uint16)
  src = tmp_path / f"a.{ext}"
  tifffile.imwrite(src, arr, photometric="rgb") if ext == "tif" else imageio.write_image(src, arr)
  dst = tmp_path / "out" / f"a.{ext}"
  enh = conv_enhancer(tile=0)
  inference.enhance_file(enh, src, dst)
  got = imageio.read_image(dst, keep_16bit=True)
  want = enh(imageio.to_float(arr))
  assert got.dtype == np.uint16 and got.shape == arr.shape
  np.testing.assert_allclose(got / 65535.0, want, atol=1.0 / 65535)


# ------------------------------------------------------------ 2, 3, 4, 8: checkpoints

import flax.struct  # noqa: E402

from enhance_jax.training import checkpointing  # noqa: E402
from enhance_jax.weights import variables as variables_io  # noqa: E402


@flax.struct.dataclass
class _State:
  """A minimal train-state-like pytree: what Checkpointer saves and restores."""
  step: jax.Array
  params: dict


def _state(step: int, n: int = 64, sharding=None) -> _State:
  w = np.arange(n * 8, dtype=np.float32).reshape(n, 8) + step
  params = {"w": jax.device_put(w, sharding) if sharding else jax.numpy.asarray(w),
            "b": jax.numpy.full((8,), float(step))}
  return _State(step=jax.numpy.asarray(step), params=params)


def _saved(directory: Path, steps=(1, 2, 3)) -> Path:
  ckpt = checkpointing.Checkpointer(directory, keep=10)
  for s in steps:
    ckpt.save(_state(s))
  ckpt.close()
  return directory


def test_hang__variables_into_unwritable_folder_raise_at_once(tmp_path):
  (tmp_path / "file").write_text("not a folder")
  t = time.monotonic()
  with pytest.raises(OSError, match=r"file/w: cannot write the weights \(.*/file is a file, not a folder\)"):
    variables_io.save_variables(tmp_path / "file" / "w", {"params": {"k": np.ones(3)}})
  assert time.monotonic() - t < 20


_FAILED_WRITE = """
import shutil, sys
sys.path.insert(0, {tests!r})
import test_attacks as t
ck = t.checkpointing.Checkpointer({directory!r})
ck.save(t._state(1))
ck.wait()
shutil.rmtree({directory!r})
open({directory!r}, "w").write("the folder became a file")  # the next write fails
try:
  ck.save(t._state(2))
  ck.close()
except OSError as e:
  print("error:", e)
"""


def test_hang__failed_checkpoint_write_is_one_error_and_the_process_exits(tmp_path):
  """Today Orbax's writer waits 20 min for a signal of the failed write: no exit."""
  code = _FAILED_WRITE.format(tests=str(ROOT / "tests"), directory=str(tmp_path / "ck"))
  proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True,
                        text=True, timeout=90)
  lines = proc.stdout.strip().splitlines()
  assert proc.returncode == 0 and len(lines) == 1, (proc.stdout, proc.stderr[-2000:])
  assert lines[0].startswith(f"error: {tmp_path / 'ck'}") and "could not be written" in lines[0]


def test_hang__import_weights_cli_unwritable_output_exits(tmp_path):
  """The issue's command: exit status 1 and one error line, well within 60 s."""
  from enhance_jax.data import paths
  if not (paths.shared_data_dir() / "weights").is_dir():
    pytest.skip("official weights not found (shared data)")
  (tmp_path / "file").write_text("x")
  t = time.monotonic()
  proc = subprocess.run([sys.executable, "-m", "enhance_jax.import_weights", "--model=dncnn_s15",
                         f"--output_dir={tmp_path / 'file' / 'out'}"], env=subprocess_env(),
                        capture_output=True, text=True, timeout=60)
  assert proc.returncode == 1 and time.monotonic() - t < 60
  _last_error_line(proc.stderr, str(tmp_path / "file" / "out"), "cannot write")


@pytest.mark.parametrize("keep", [0, -1])
def test_data_loss__keep_checkpoints_below_one_refused(tmp_path, keep):
  with pytest.raises(ValueError, match=f"keep_checkpoints={keep}: must be an integer >= 1"):
    checkpointing.Checkpointer(tmp_path / "ck", keep=keep)
  assert not (tmp_path / "ck").exists()


_WRITE_ON_TWO = """
import os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
sys.path.insert(0, {tests!r})
import test_attacks as t
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
assert len(jax.devices()) == 2
ck = t.checkpointing.Checkpointer({directory!r})
ck.save(t._state(5, sharding=shard))
ck.close()
"""


def test_misleading__checkpoint_of_2_devices_restores_on_this_topology(tmp_path):
  code = _WRITE_ON_TWO.format(tests=str(ROOT / "tests"), directory=str(tmp_path / "ck"))
  env = {k: v for k, v in subprocess_env().items() if k != "XLA_FLAGS"}
  subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
  ckpt = checkpointing.Checkpointer(tmp_path / "ck")
  step, raw = ckpt.restore_latest_raw()  # evaluate / enhance
  want = _state(5)
  assert step == 5
  np.testing.assert_array_equal(raw["params"]["w"], np.asarray(want.params["w"]))
  one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda x: jax.device_put(np.zeros_like(x), one), want)
  got = ckpt.restore(target)  # resume, on one device
  ckpt.close()
  assert int(got.step) == 5 and got.params["w"].sharding == one
  np.testing.assert_array_equal(np.asarray(got.params["w"]), np.asarray(want.params["w"]))


def _corrupt(folder: Path, how: str) -> None:
  import shutil
  data = sorted((folder / "default").rglob("d/*"), key=lambda f: f.stat().st_size)
  if how == "truncated_data":
    with open(data[-1], "r+b") as f:
      f.truncate(data[-1].stat().st_size // 2)
  elif how == "missing_data":
    for f in data:
      f.unlink()
  elif how == "truncated_metadata":
    meta = folder / "default" / "_METADATA"
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 3])
  elif how == "empty_folder":
    shutil.rmtree(folder)
    folder.mkdir()


CORRUPTIONS = ["truncated_data", "missing_data", "truncated_metadata", "empty_folder"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_data_loss__corrupt_latest_checkpoint_falls_back(tmp_path, capfd, how):
  directory = _saved(tmp_path / "checkpoints")
  _corrupt(directory / "3", how)
  ckpt = checkpointing.Checkpointer(directory)
  step, raw = ckpt.restore_latest_raw()  # evaluate/enhance: reported, not moved
  assert step == 2 and float(raw["params"]["b"][0]) == 2.0
  assert (directory / "3").exists()
  got = ckpt.restore(_state(0))  # resume: reported and moved aside, never deleted
  assert int(got.step) == 2
  np.testing.assert_array_equal(np.asarray(got.params["w"]), np.asarray(_state(2).params["w"]))
  assert ckpt.latest_step() == 2 and (tmp_path / "checkpoints_corrupt" / "3").is_dir()
  ckpt.save(_state(3))  # the run goes on and writes step 3 again
  ckpt.close()
  err = capfd.readouterr().err
  warn = [l for l in err.splitlines() if l.startswith("warning: ")]
  assert warn and all(str(directory / "3") in l and "corrupt checkpoint" in l for l in warn), err
  assert checkpointing.Checkpointer(directory).restore(_state(0)).step == 3


@pytest.mark.parametrize("how", ["truncated_data", "empty_folder"])
def test_data_loss__corrupt_checkpoint_stop_policy_names_it(tmp_path, how):
  directory = _saved(tmp_path / "checkpoints")
  _corrupt(directory / "3", how)
  ckpt = checkpointing.Checkpointer(directory)
  with pytest.raises(ValueError, match=rf"{directory / '3'}: corrupt checkpoint") as e:
    ckpt.restore(_state(0), on_corrupt="stop")
  assert "\n" not in str(e.value) and (directory / "3").exists()
  with pytest.raises(ValueError, match="on_corrupt_checkpoint='maybe'"):
    ckpt.restore(_state(0), on_corrupt="maybe")


def test_data_loss__other_shapes_are_a_config_mismatch_not_corruption(tmp_path):
  directory = _saved(tmp_path / "checkpoints")
  ckpt = checkpointing.Checkpointer(directory)
  with pytest.raises(ValueError, match=r"does not fit this config.*\['w'\]: saved \(64, 8\), "
                                        r"expected \(32, 8\)"):
    ckpt.restore(_state(0, n=32))
  assert sorted(ckpt.all_steps()) == [1, 2, 3] and not (tmp_path / "checkpoints_corrupt").exists()


# ------------------------------------------------------------ 9: workdir lock

from enhance_jax.training import workdir_lock  # noqa: E402


def test_misleading__second_run_in_a_workdir_fails_naming_the_holder(tmp_path):
  import socket
  with workdir_lock.WorkdirLock(tmp_path):
    with pytest.raises(OSError, match=rf"in use by another training run \(PID {os.getpid()} on "
                                      rf"host {socket.gethostname()}") as e:
      workdir_lock.WorkdirLock(tmp_path).acquire()
    assert "\n" not in str(e.value)
  with workdir_lock.WorkdirLock(tmp_path):  # released: free again, no warning
    pass


def test_misleading__stale_lock_of_a_dead_run_is_taken_over(tmp_path, capfd):
  proc = subprocess.run([sys.executable, "-c", "import os, sys; sys.path.insert(0, %r); "
                         "from enhance_jax.training import workdir_lock as w; "
                         "w.WorkdirLock(%r).acquire(); os._exit(0)" % (str(ROOT), str(tmp_path))],
                        timeout=60)  # exits holding the lock, as after kill -9
  assert proc.returncode == 0 and (tmp_path / ".lock").read_text().strip()
  lock = workdir_lock.WorkdirLock(tmp_path).acquire()
  err = capfd.readouterr().err
  assert "stale lock" in err and "taking it over" in err and "PID" in err, err
  assert f'"pid": {os.getpid()}' in (tmp_path / ".lock").read_text()
  lock.release()


def test_misleading__training_into_a_locked_workdir_fails_at_once(tmp_path):
  from enhance_jax.training import loop
  sys.path.insert(0, str(ROOT / "tests"))
  from test_reliability import tiny_config
  with workdir_lock.WorkdirLock(tmp_path):
    t = time.monotonic()
    with pytest.raises(OSError, match=f"PID {os.getpid()}"):
      loop.train_and_evaluate(tiny_config(), tmp_path)
    assert time.monotonic() - t < 5 and not (tmp_path / "checkpoints").exists()


# ------------------------------------------------------------ 8, 11: the loop

def _reliability():
  sys.path.insert(0, str(ROOT / "tests"))
  import test_reliability
  return test_reliability


def test_data_loss__resume_skips_a_corrupt_latest_checkpoint(tmp_path, capfd):
  from enhance_jax.training import loop
  r = _reliability()
  c = r.tiny_config()
  c.train.num_steps = 3
  c.train.keep_checkpoints = 5
  loop.train_and_evaluate(c, tmp_path)
  _corrupt(tmp_path / "checkpoints" / "3", "missing_data")
  capfd.readouterr()
  loop.train_and_evaluate(c, tmp_path)  # resumes from 2, redoes step 3
  out, err = capfd.readouterr()
  assert "Resuming from step 2" in out and f"{tmp_path / 'checkpoints' / '3'}: corrupt" in err
  assert (tmp_path / "checkpoints_corrupt" / "3").is_dir()
  assert r._ckpt(tmp_path, 3)["step"] == 3


def test_silent_wrong__nan_skip_over_the_limit_fails_the_run(tmp_path):
  from enhance_jax.training import loop
  r = _reliability()
  c = r._poison_config("skip")
  c.train.max_skipped_fraction = 0.05
  bad = r._poisoned_steps(c)
  with pytest.raises(loop.NonFiniteLossError,
                     match=rf"{len(bad)} of 5 steps .* were skipped, more than "
                           r"config.train.max_skipped_fraction=0.05") as e:
    loop.train_and_evaluate(c, tmp_path)
  assert str(tmp_path / "checkpoints" / "5") in str(e.value)
  assert r._ckpt(tmp_path, 5)["step"] == 5  # the final checkpoint is kept


def _white_eval_source(split: str = "train", channels: int | None = 3, **unused):
  from enhance_jax.data import sources
  del unused
  if split == "train":
    return sources.ListSource([{"target": _rand(48, 48, 3, seed=i), "name": f"n{i}"}
                               for i in range(4)])
  return sources.ListSource([{"target": np.full((48, 48, 3), 255, np.uint8), "name": "white"}])


def test_silent_wrong__nan_final_eval_fails_the_run(tmp_path):
  from enhance_jax.data import sources
  from enhance_jax.training import loop
  r = _reliability()
  if "attacks_white_eval" not in sources.DATASETS:
    sources.register("attacks_white_eval")(_white_eval_source)
  c = r._poison_config("skip")
  c.data.name = "attacks_white_eval"  # training never sees white; evaluation only white: NaN
  c.train.num_steps = 2
  with pytest.raises(loop.NonFiniteLossError, match=r"final evaluation is NaN \(.*psnr"):
    loop.train_and_evaluate(c, tmp_path)


# ------------------------------------------------------------ 7: failure mid-run (CLI)

def test_traceback__bad_file_reached_mid_run_ends_with_one_error_line(tmp_path):
  """The corrupt image is reached after some steps, with async checkpoints in
  flight: the last stderr line is one `error:` naming it, no traceback, and
  every checkpoint written so far is complete (none left half-written)."""
  import textwrap
  data = tmp_path / "data"
  for i in range(12):
    _png(data / f"a{i:02d}.png", _rand(40, 40, seed=i))
  bad = data / "zz.png"
  bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
  from enhance_jax.config import base_config
  from enhance_jax.data import pipeline, sources
  from enhance_jax.data.builders import image_folder  # noqa: F401  (registers)
  src = sources.DATASETS.get("image_folder", split="train", channels=3, target_dir=str(data))
  first = {seed: [pipeline.TrainExamples(src, base_config().data, seed=seed).index(i)
                  for i in range(len(src))].index(len(src) - 1) for seed in range(40)}
  seed = next(s for s, pos in first.items() if 4 <= pos <= 8)  # reached at step 5 to 9
  cfg = tmp_path / "cfg.py"
  cfg.write_text(textwrap.dedent(f"""
      from enhance_jax.config import base_config
      def get_config():
        c = base_config()
        c.seed = {seed}
        c.data.cache_mb = 0  # no decode-everything-first: the bad file is reached lazily
        c.data.name = "image_folder"
        c.data.kwargs.target_dir = {str(data)!r}
        c.data.patch_size = 32
        c.data.eval_max_size = 32
        c.data.max_eval_images = 1
        c.model.kwargs.features = 4
        c.model.kwargs.depth = 2
        c.train.batch_size = 1
        c.train.num_steps = 30
        c.train.log_every = 1
        c.train.checkpoint_every = 1
        c.train.eval_every = 1000
        c.train.keep_checkpoints = 50
        return c
      """))
  wd = tmp_path / "wd"
  env = {k: v for k, v in subprocess_env().items() if k != "XLA_FLAGS"}  # one device, batch 1
  proc = subprocess.run([sys.executable, "-m", "enhance_jax.train", f"--config={cfg}",
                         f"--workdir={wd}"], env=env, capture_output=True, text=True,
                        timeout=600, cwd=tmp_path)
  assert proc.returncode == 1, (proc.stdout[-2000:], proc.stderr[-3000:])
  _last_error_line(proc.stderr, str(bad))
  logged = [l for l in proc.stdout.splitlines() if l.startswith("step ")]
  assert len(logged) >= 2, proc.stdout  # it failed mid-run, not at the start
  assert not list((wd / "checkpoints").glob("*.orbax-checkpoint-tmp*")), "a half-written checkpoint"
  ckpt = checkpointing.Checkpointer(wd / "checkpoints")
  step, raw = ckpt.restore_latest_raw(on_corrupt="stop")  # the newest restores: complete
  ckpt.close()
  # batches are read ahead (data.device_prefetch), so the error may come a step or two early
  assert step == len(logged) <= first[seed] and int(raw["step"]) == step


# ------------------------------------------------------------ 10: values (the lead's schema)

@pytest.mark.parametrize("key,value,allowed", [
    ("train.batch_size", 0, "> 0"), ("train.batch_size", -4, "> 0"),
    ("train.num_steps", -1, ">= 0"), ("data.patch_size", 0, "> 0"),
    ("train.log_every", 0, "> 0"), ("train.checkpoint_every", 0, "> 0"),
    ("train.dtype", "float16", "'float32' or 'bfloat16'"),
    ("data.degrade", "gaussian_noise(sgima=25)", "unknown parameter 'sgima'"),
    ("data.degrade", "gaussian_noise(sigma=25)|", "stray '|'"),
], ids=lambda v: str(v))
def test_traceback__bad_config_value_is_one_line_naming_key(key, value, allowed):
  from enhance_jax import config as config_lib
  c = config_lib.base_config()
  section, name = key.split(".")
  c[section][name] = value
  with pytest.raises(ValueError) as e:
    config_lib.check_values(c, "cfg.py")
  msg = str(e.value)
  assert f"config.{key}" in msg and allowed in msg and "\n" not in msg, msg


def test_traceback__config_file_syntax_error_is_one_line(tmp_path):
  from enhance_jax import config as config_lib
  bad = tmp_path / "bad.py"
  bad.write_text("def get_config(:\n  pass\n")
  with pytest.raises(ValueError, match=rf"{bad}:1: syntax error") as e:
    config_lib.load_config(str(bad))
  assert "\n" not in str(e.value)


# ------------------------------------------------------------ already handled (issue #9)

@pytest.mark.parametrize("name,data", [
    ("empty.png", b""), ("garbage.png", b"\x00\x01not an image" * 8),
    ("header_only.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20),
], ids=["empty", "garbage", "header_only"])
def test_traceback__unreadable_image_is_one_line_naming_it(tmp_path, name, data):
  path = tmp_path / name
  path.write_bytes(data)
  with pytest.raises(imageio.ImageReadError, match=rf"^{path}: ") as e:
    imageio.read_image(path)
  assert "\n" not in str(e.value)


def test_data_loss__enhance_file_writes_nothing_for_a_bad_input(conv_enhancer, tmp_path):
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
  with pytest.raises(imageio.ImageReadError):
    inference.enhance_file(conv_enhancer(tile=0), bad, tmp_path / "out" / "bad.png")
  assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# ------------------------------------------------------------ the ratchet

OUTCOMES = ("silent_wrong", "data_loss", "hang", "traceback", "misleading")
MIN_ATTACKS = 53  # attack cases in this module when issue #14 closed: only ever raise it


def test_attack_count_only_goes_up():
  """Counts the attack cases by outcome class (the prefix of each test name):
  every class has some, and none was dropped."""
  cases = _attack_case_ids(sys.modules[__name__])
  by_class = {o: sum(c.startswith(f"test_{o}__") for c in cases) for o in OUTCOMES}
  assert all(by_class.values()), by_class
  assert len(cases) >= MIN_ATTACKS, (len(cases), by_class)


def _attack_case_ids(module) -> list[str]:
  """Every attack case: one per test function, times its parametrize cases."""
  out = []
  for name, fn in vars(module).items():
    if not (callable(fn) and name.startswith("test_") and "__" in name):
      continue
    n = 1
    for mark in getattr(fn, "pytestmark", []):
      if mark.name == "parametrize":
        n *= len(mark.args[1])
    out += [name] * n
  return out
