"""TFDS builders on tiny generated data (TFDS-style dummy data in a tmp manual_dir)."""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow_datasets")

from enhance_jax.data import builders  # noqa: E402,F401  (registers the datasets)
from enhance_jax.data.builders import lol as lol_mod  # noqa: E402
from enhance_jax.data.builders import common  # noqa: E402
from enhance_jax.data.sources import DATASETS  # noqa: E402


def _img(path: Path, h: int, w: int, c: int = 3, seed: int = 0, fmt: str | None = None) -> Path:
  rng = np.random.default_rng(seed)
  arr = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(arr[..., 0] if c == 1 else arr).save(path, format=fmt)
  return path


@pytest.fixture
def data_dir(tmp_path):
  return str(tmp_path / "tfds")


@pytest.mark.parametrize("name,layout,split,count,channels", [
    ("bsds500", {"images/train": 3, "images/val": 2, "images/test": 1}, "val", 2, 3),
    ("bsd68", {"": 3}, "test", 3, 1),
    ("cbsd68", {"": 2}, "test", 2, 3),
    ("set12", {"": 2}, "test", 2, 1),
    ("train400", {"": 4}, "train", 4, 1),
])
def test_folder_builders(tmp_path, data_dir, name, layout, split, count, channels):
  man = tmp_path / "manual"
  ext = ".jpg" if name == "bsds500" else ".png"
  for sub, n in layout.items():
    for i in range(n):
      _img(man / sub / f"{i + 1:03d}{ext}", 12, 16, channels, seed=i)
  src = DATASETS.get(name, split=split, channels=None, data_dir=data_dir, manual_dir=str(man))
  assert len(src) == count
  ex = src[0]
  assert ex["target"].dtype == np.uint8 and ex["target"].shape == (12, 16, channels)
  assert ex["name"] == "001" and "input" not in ex
  if ext == ".png":  # stored bytes are the original file: lossless round trip
    np.testing.assert_array_equal(
        ex["target"], np.asarray(Image.open(man / list(layout)[0] / "001.png")).reshape(12, 16, -1))
  rgb = DATASETS.get(name, split=split, channels=3, data_dir=data_dir, manual_dir=str(man))
  assert rgb[0]["target"].shape == (12, 16, 3)
  with pytest.raises(KeyError, match="no split"):
    DATASETS.get(name, split="nope", data_dir=data_dir, manual_dir=str(man))


def test_no_tensorflow_imported():
  assert "tensorflow" not in sys.modules


def test_empty_manual_dir_error(tmp_path, data_dir):
  (tmp_path / "empty").mkdir()
  with pytest.raises(FileNotFoundError, match="bsd68"):
    DATASETS.get("bsd68", split="test", data_dir=data_dir, manual_dir=str(tmp_path / "empty"))


def test_set5_builder(tmp_path, data_dir):
  man = tmp_path / "set5"
  for k in (2, 3):
    for i in (1, 2):
      _img(man / f"image_SRF_{k}" / f"img_00{i}_SRF_{k}_HR.png", 6 * k, 4 * k, seed=i)
      _img(man / f"image_SRF_{k}" / f"img_00{i}_SRF_{k}_LR.png", 6, 4, seed=10 + i)
  for k in (2, 3):
    src = DATASETS.get("set5", split="test", scale=k, data_dir=data_dir, manual_dir=str(man))
    assert len(src) == 2 and src[1]["name"] == "img_002"
    assert src[0]["target"].shape == (6 * k, 4 * k, 3) and src[0]["input"].shape == (6, 4, 3)
  with pytest.raises(ValueError, match="scale"):
    DATASETS.get("set5", split="test", scale=5, data_dir=data_dir, manual_dir=str(man))


def test_div2k_builder_from_manual(tmp_path, data_dir):
  man = tmp_path / "div2k"
  for part, ids in (("train", (1, 2, 3)), ("valid", (801,))):
    for i in ids:
      _img(man / f"DIV2K_{part}_HR" / f"{i:04d}.png", 16, 12, seed=i)
      _img(man / f"DIV2K_{part}_LR_bicubic" / "X4" / f"{i:04d}x4.png", 4, 3, seed=i)
  src = DATASETS.get("div2k", split="train", scale=4, data_dir=data_dir, manual_dir=str(man))
  assert len(src) == 3 and src[2]["name"] == "0003"
  assert src[0]["input"].shape == (4, 3, 3) and src[0]["target"].shape == (16, 12, 3)
  val = DATASETS.get("div2k", split="valid", scale=4, data_dir=data_dir, manual_dir=str(man))
  assert len(val) == 1 and val[0]["name"] == "0801"


def test_div2k_checksums_registered():
  infos = builders.sr.Div2k.url_infos
  assert infos and any(u.endswith("DIV2K_train_HR.zip") for u in infos)


def test_kodak_builder_from_manual(tmp_path, data_dir):
  man = tmp_path / "kodak"
  for i in range(1, 25):
    _img(man / f"kodim{i:02d}.png", 8, 12, seed=i)
  src = DATASETS.get("kodak", split="test", data_dir=data_dir, manual_dir=str(man))
  assert len(src) == 24 and src[23]["name"] == "kodim24"


def test_lol_builder(tmp_path, data_dir):
  man = tmp_path / "lol"
  for sub, ids in (("our485", (2, 10)), ("eval15", (1,))):
    for i in ids:
      _img(man / sub / "low" / f"{i}.png", 8, 12, seed=i)
      _img(man / sub / "high" / f"{i}.png", 8, 12, seed=100 + i)
  _img(man / "eval15" / "low" / "5.png", 8, 12)   # unpaired: ignored in partial mode
  with pytest.raises(FileNotFoundError, match="allow_partial"):
    DATASETS.get("lol", split="train", data_dir=data_dir, manual_dir=str(man))
  train = DATASETS.get("lol", split="train", allow_partial=True, data_dir=data_dir,
                       manual_dir=str(man))
  assert [train[i]["name"] for i in range(len(train))] == ["2", "10"]
  assert train[0]["input"].shape == train[0]["target"].shape == (8, 12, 3)
  test = DATASETS.get("lol", split="eval15", allow_partial=True, data_dir=data_dir,
                      manual_dir=str(man))
  assert len(test) == 1


def test_lol_checksum_mismatch(tmp_path, data_dir):
  man = tmp_path / "lol"
  low = _img(man / "eval15" / "low" / "1.png", 8, 12)
  _img(man / "eval15" / "high" / "1.png", 8, 12, seed=1)
  (man / lol_mod.SHA256_LIST).write_text(
      f"{common.sha256(low)}  eval15/low/1.png  1\n{'0' * 64}  eval15/high/1.png  1\n")
  with pytest.raises(ValueError, match="sha256"):
    DATASETS.get("lol", split="test", allow_partial=True, data_dir=data_dir, manual_dir=str(man))


def test_imagenet_subset(tmp_path, data_dir):
  man = tmp_path / "imagenet_train"
  for c in range(4):
    for i in range(5):
      _img(man / f"n0{c}" / f"n0{c}_{i}.JPEG", 10, 20, seed=c * 10 + i, fmt="JPEG")
  kw = dict(num_classes=2, images_per_class=3, val_per_class=1, resize=6, seed=1,
            data_dir=data_dir, manual_dir=str(man))
  train = DATASETS.get("imagenet_subset", split="train", **kw)
  val = DATASETS.get("imagenet_subset", split="validation", **kw)
  assert len(train) == 6 and len(val) == 2
  assert train[0]["target"].shape == (6, 12, 3)
  names_t = {train[i]["name"] for i in range(6)}
  names_v = {val[i]["name"] for i in range(2)}
  assert not names_t & names_v and len({n.split("/")[0] for n in names_t}) == 2
  again = DATASETS.get("imagenet_subset", split="train", **{**kw, "data_dir": data_dir + "2"})
  assert {again[i]["name"] for i in range(6)} == names_t  # the seeded rule is reproducible
  with pytest.raises(ValueError, match="num_classes"):
    DATASETS.get("imagenet_subset", split="train", **{**kw, "num_classes": 9})


def test_image_folder(tmp_path):
  clean = tmp_path / "clean"
  for i in (1, 2, 10):
    _img(clean / f"{i}.png", 8, 8, seed=i)
  src = DATASETS.get("image_folder", split="train", target_dir=str(clean))
  assert [src[i]["name"] for i in range(3)] == ["1", "2", "10"]
  noisy = tmp_path / "noisy"
  for i in (1, 2, 10):
    _img(noisy / f"{i}x2.png", 4, 4, seed=i)
  pairs = DATASETS.get("image_folder", split="train", target_dir=str(clean),
                       input_dir=str(noisy), input_suffix="x2", channels=1)
  assert pairs[2]["input"].shape == (4, 4, 1) and pairs[2]["target"].shape == (8, 8, 1)
  _img(noisy / "3x2.png", 4, 4)
  with pytest.raises(ValueError, match="unmatched"):
    DATASETS.get("image_folder", target_dir=str(clean), input_dir=str(noisy), input_suffix="x2")
  (tmp_path / "void").mkdir()
  with pytest.raises(FileNotFoundError, match="no image files"):
    DATASETS.get("image_folder", target_dir=str(tmp_path / "void"))


def test_image_folder_several_folders(tmp_path):
  """A list of folders (e.g. DICM and LIME) reads their images in order, named
  '<folder>/<stem>'; paired inputs need one folder."""
  for i in (2, 1):
    _img(tmp_path / "A" / f"{i}.png", 8, 8, seed=i)
  _img(tmp_path / "B" / "x.png", 6, 5, seed=3)
  src = DATASETS.get("image_folder", target_dir=[str(tmp_path / "A"), str(tmp_path / "B")])
  assert [src[i]["name"] for i in range(len(src))] == ["A/1", "A/2", "B/x"]
  assert src[2]["target"].shape[:2] == (6, 5)
  with pytest.raises(ValueError, match="single target_dir"):
    DATASETS.get("image_folder", target_dir=[str(tmp_path / "A")], input_dir=str(tmp_path / "B"))
  with pytest.raises(FileNotFoundError, match="image_folder"):
    DATASETS.get("image_folder", target_dir=[str(tmp_path / "A"), str(tmp_path / "none")])


def test_split_slices(tmp_path, data_dir):
  man = tmp_path / "manual"
  for i in range(4):
    _img(man / f"{i + 1:03d}.png", 8, 8, 1, seed=i)
  src = DATASETS.get("set12", split="test[:2]", data_dir=data_dir, manual_dir=str(man))
  assert len(src) == 2 and src[1]["name"] == "002"


class _Terminal(io.StringIO):
  """A stderr that says it is a terminal (logs.Ticker prints progress lines only there)."""

  def isatty(self):
    return True


def test_build_reports_progress_with_eta_and_writes_the_same_data(tmp_path, monkeypatch, capsys):
  from tensorflow_datasets.core.utils import tqdm_utils
  man = tmp_path / "set5"
  for i in range(1, 13):
    _img(man / "image_SRF_3" / f"img_{i:03d}_SRF_3_HR.png", 9, 6, seed=i)
    _img(man / "image_SRF_3" / f"img_{i:03d}_SRF_3_LR.png", 3, 2, seed=50 + i)
  term = _Terminal()
  monkeypatch.setattr(sys, "stderr", term)
  t0 = time.monotonic()
  src = DATASETS.get("set5", split="test", scale=3, data_dir=str(tmp_path / "a"),
                     manual_dir=str(man))
  seconds = time.monotonic() - t0
  monkeypatch.undo()
  assert tqdm_utils._active  # TFDS's own bars are back on after the build
  lines = [l for l in term.getvalue().splitlines() if l.startswith("build ")]
  progress, summary = lines[:-1], lines[-1]
  assert progress[0].startswith("build ej_set5/x3 test 1/12 images | ") and "| ETA " in progress[0]
  assert progress[-1].startswith("build ej_set5/x3 test 12/12 images | ")
  assert progress[-1].endswith("| ETA 0s")
  assert len(progress) <= 2 + seconds, progress  # at most one line a second (+ first, last)
  assert summary.startswith("build ej_set5/x3 test: 12 images in ")

  # Not on a terminal: the summary line only. Same examples, same files.
  quiet = DATASETS.get("set5", split="test", scale=3, data_dir=str(tmp_path / "b"),
                       manual_dir=str(man))
  err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("build ")]
  assert len(err) == 1 and err[0].startswith("build ej_set5/x3 test: 12 images in ")
  assert len(src) == len(quiet) == 12
  for i in range(12):
    assert src[i]["name"] == quiet[i]["name"] == f"img_{i + 1:03d}"
    for k in ("input", "target"):
      np.testing.assert_array_equal(src[i][k], quiet[i][k])
  np.testing.assert_array_equal(  # the stored bytes are the original file's
      src[4]["target"], np.asarray(Image.open(man / "image_SRF_3" / "img_005_SRF_3_HR.png")))
  written = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*array_record*"))
  assert written
  for rel in written:
    assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
