"""Fuzzing the image decoding and dataset-building paths (issue #9).

Random bytes, mutated valid PNG/JPEG/TIFF/BMP/GIF/WebP files and PNGs with
random headers (valid CRCs, so the decoder proper runs) go through
`imageio.decode_image`, the `image_folder` source, the training example path
and the TFDS builders' `read_checked`. Nothing may raise anything but
`ImageReadError` (or, for an image smaller than the patch, a ValueError naming
the file). Each test stops drawing new work after TIME_BUDGET seconds.
"""
from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from enhance_jax.config import base_config
from enhance_jax.data import imageio, pipeline, sources
from enhance_jax.data.imageio import ImageReadError

TIME_BUDGET = 60.0  # seconds of drawing per test
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt, **kw)
  return buf.getvalue()


def _seeds() -> dict[str, bytes]:
  rng = np.random.default_rng(0)
  rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
  gray = Image.fromarray(rng.integers(0, 256, (9, 11), dtype=np.uint8))
  rgba = Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8))
  g16 = Image.fromarray(rng.integers(0, 65536, (7, 9), dtype=np.uint16))
  return {
      "rgb.png": _encode(rgb, "PNG"), "gray.png": _encode(gray, "PNG"),
      "rgba.png": _encode(rgba, "PNG"), "g16.png": _encode(g16, "PNG"),
      "interlaced.png": _encode(rgb, "PNG", optimize=False),
      "pal.png": _encode(rgb.convert("P"), "PNG"),
      "rgb.jpg": _encode(rgb, "JPEG", quality=80),
      "progressive.jpg": _encode(rgb, "JPEG", progressive=True),
      "gray.jpg": _encode(gray, "JPEG"),
      "rgb.tif": _encode(rgb, "TIFF"), "lzw.tif": _encode(rgb, "TIFF", compression="tiff_lzw"),
      "g16.tif": _encode(g16, "TIFF"),
      "rgb.bmp": _encode(rgb, "BMP"), "pal.bmp": _encode(rgb.convert("P"), "BMP"),
      "rgb.gif": _encode(rgb.convert("P"), "GIF"),
      "rgb.webp": _encode(rgb, "WEBP", lossless=True),
  }


SEEDS = _seeds()


@st.composite
def mutated(draw) -> tuple[str, bytes]:
  """A seed file with 1-4 byte-level mutations (biased towards the header)."""
  name = draw(st.sampled_from(sorted(SEEDS)))
  data = bytearray(SEEDS[name])
  for _ in range(draw(st.integers(1, 4))):
    n = max(len(data) - 1, 0)
    pos = draw(st.one_of(st.integers(0, min(n, 80)), st.integers(0, n)))
    op = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite", "delete"]))
    if op == "flip" and data:
      data[pos] ^= draw(st.integers(1, 255))
    elif op == "truncate":
      del data[pos:]
    elif op == "insert":
      data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    elif op == "overwrite":
      chunk = draw(st.binary(min_size=1, max_size=16))
      data[pos:pos + len(chunk)] = chunk
    else:
      del data[pos:pos + draw(st.integers(1, 32))]
  return name, bytes(data)


def _chunk(tag: bytes, payload: bytes) -> bytes:
  return (struct.pack(">I", len(payload)) + tag + payload
          + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF))


@st.composite
def random_header_png(draw) -> tuple[str, bytes]:
  """A PNG with valid CRCs but random IHDR fields and random (compressed) pixel data."""
  w, h = draw(st.integers(0, 300)), draw(st.integers(0, 300))
  depth = draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0, 32]))
  color = draw(st.sampled_from([0, 2, 3, 4, 6, 1, 5, 7]))
  ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, draw(st.sampled_from([0, 1, 2])))
  raw = draw(st.binary(min_size=0, max_size=2048))
  idat = zlib.compress(raw) if draw(st.booleans()) else raw
  chunks = [_chunk(b"IHDR", ihdr)]
  if color == 3 and draw(st.booleans()):
    chunks.append(_chunk(b"PLTE", draw(st.binary(min_size=0, max_size=96))))
  if draw(st.booleans()):
    chunks.append(_chunk(b"tRNS", draw(st.binary(min_size=0, max_size=16))))
  chunks += [_chunk(b"IDAT", idat), _chunk(b"IEND", b"")]
  return "header.png", b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


ANY_FILE = st.one_of(mutated(), random_header_png(),
                     st.tuples(st.just("random.bin"), st.binary(min_size=0, max_size=512)))


class Budget:
  def __init__(self, seconds: float = TIME_BUDGET):
    self.end = time.monotonic() + seconds

  def over(self) -> bool:
    return time.monotonic() > self.end


def _check_decoded(arr, channels, keep_16bit):
  assert isinstance(arr, np.ndarray) and arr.ndim == 3
  assert arr.dtype == (np.uint16 if keep_16bit and arr.dtype == np.uint16 else np.uint8)
  assert arr.shape[0] > 0 and arr.shape[1] > 0
  assert arr.shape[2] == channels if channels else arr.shape[2] in (1, 3)


def test_seeds_decode():
  for name, data in SEEDS.items():
    _check_decoded(imageio.decode_image(data, name), None, False)


def test_decode_image_raises_only_image_read_error():
  budget = Budget()

  @FUZZ
  @given(ANY_FILE, st.sampled_from([None, 1, 3]), st.booleans())
  def run(named, channels, keep_16bit):
    if budget.over():
      return
    name, data = named
    try:
      arr = imageio.decode_image(data, f"fuzz/{name}", channels=channels, keep_16bit=keep_16bit)
    except ImageReadError as e:
      msg = str(e)
      assert msg.startswith(f"fuzz/{name}: ") and "\n" not in msg, msg
      return
    _check_decoded(arr, channels, keep_16bit)

  run()


def test_image_folder_and_training_examples_raise_only_clear_errors(tmp_path):
  from enhance_jax.data.builders import image_folder  # noqa: F401  (registers)
  budget = Budget()
  cfg = base_config().data
  cfg.patch_size = 8
  counter = iter(range(10**9))

  @FUZZ
  @given(ANY_FILE)
  def run(named):
    if budget.over():
      return
    name, data = named
    folder = tmp_path / f"f{next(counter)}"
    folder.mkdir()
    suffix = Path(name).suffix if Path(name).suffix in imageio.IMAGE_EXTENSIONS else ".png"
    path = folder / (Path(name).stem + suffix)
    path.write_bytes(data)
    src = sources.DATASETS.get("image_folder", split="train", channels=3, target_dir=str(folder))
    assert len(src) == 1
    try:
      ex = pipeline.TrainExamples(src, cfg, seed=0)[0]
    except ImageReadError as e:
      assert str(e).startswith(f"{path}: "), str(e)
      return
    except ValueError as e:  # an image smaller than the patch
      assert str(path) in str(e) and "smaller than the patch" in str(e), str(e)
      return
    assert ex["target"].shape == (8, 8, 3) and ex["target"].dtype == np.float32

  run()


def test_builders_read_checked_raises_only_image_read_error(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  from enhance_jax.data.builders import common
  budget = Budget(TIME_BUDGET / 2)

  @FUZZ
  @given(ANY_FILE)
  def run(named):
    if budget.over():
      return
    name, data = named
    path = tmp_path / name
    path.write_bytes(data)
    try:
      out = common.read_checked(path)
    except ImageReadError as e:
      assert str(e).startswith(f"{path}: "), str(e)
      return
    imageio.decode_image(out, str(path))  # what the builder stores decodes again

  run()
