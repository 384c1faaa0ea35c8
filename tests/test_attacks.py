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
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from enhance_jax import inference, models
from enhance_jax.data import imageio

ROOT = Path(__file__).resolve().parents[1]


def _rand(h, w, c=3, seed=0, dtype=np.uint8):
  hi = 65536 if dtype == np.uint16 else 256
  arr = np.random.default_rng(seed).integers(0, hi, (h, w, c)).astype(dtype)
  return arr[..., 0] if c == 1 else arr


def _png(path: Path, arr) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(arr).save(path)
  return path


def _env() -> dict:
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
  env.setdefault("JAX_PLATFORMS", "cpu")
  env.setdefault("JAX_COMPILATION_CACHE_DIR",
                 str(Path(tempfile.gettempdir()) / "enhance_jax_test_jax_cache"))
  return env


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
