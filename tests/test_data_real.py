"""Builders on the real shared benchmark data: counts, sizes, modes, aligned pairs."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_datasets")

from enhance_jax.data import builders  # noqa: E402,F401  (registers the datasets)
from enhance_jax.data import imageio  # noqa: E402
from enhance_jax.data.paths import shared_subdir  # noqa: E402
from enhance_jax.data.sources import DATASETS  # noqa: E402


def _need(*parts: str):
  d = shared_subdir(*parts)
  if not d.is_dir():
    pytest.skip(f"shared data {d} not found (set ENHANCE_JAX_DATA to the shared data folder).")
  return d


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds_real"))


def _sizes(src):
  return [src[i]["target"].shape for i in range(len(src))]


@pytest.mark.parametrize("name,split,count,channels", [
    ("bsd68", "test", 68, 1), ("cbsd68", "test", 68, 3), ("set12", "test", 12, 1)])
def test_denoising_test_sets(data_dir, name, split, count, channels):
  folder = _need(name)
  src = DATASETS.get(name, split=split, data_dir=data_dir)
  assert len(src) == count
  sizes = _sizes(src)
  assert all(s[2] == channels for s in sizes)
  if name == "set12":
    assert sorted(s[:2] for s in sizes) == [(256, 256)] * 7 + [(512, 512)] * 5
    assert [src[i]["name"] for i in range(12)] == [f"{i:02d}" for i in range(1, 13)]
  else:
    assert sorted({s[:2] for s in sizes}) == [(321, 481), (481, 321)]
    assert sum(s[:2] == (321, 481) for s in sizes) == 53
  # Stored bytes are the files themselves.
  ex = src[0]
  match = [p for p in folder.iterdir() if p.stem == ex["name"]]
  np.testing.assert_array_equal(ex["target"], imageio.read_image(match[0]))


def test_train400(data_dir):
  _need("train400")
  src = DATASETS.get("train400", split="train", data_dir=data_dir)
  assert len(src) == 400
  assert src[0]["target"].shape == (180, 180, 1) and src[399]["name"] == "test_400"


def test_bsds500(data_dir):
  _need("bsds500")
  counts = {s: len(DATASETS.get("bsds500", split=s, data_dir=data_dir))
            for s in ("train", "val", "test")}
  assert counts == {"train": 200, "val": 100, "test": 200}
  val = DATASETS.get("bsds500", split="validation", data_dir=data_dir, channels=1)
  assert val[0]["target"].shape[2] == 1 and sorted(val[0]["target"].shape[:2]) == [321, 481]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_set5(data_dir, k):
  _need("set5")
  src = DATASETS.get("set5", split="test", scale=k, data_dir=data_dir)
  assert len(src) == 5
  assert [src[i]["name"] for i in range(5)] == [f"img_00{i}" for i in range(1, 6)]
  for i in range(5):
    hr, lr = src[i]["target"], src[i]["input"]
    assert hr.shape[0] == k * lr.shape[0] and hr.shape[1] == k * lr.shape[1] and hr.shape[2] == 3
  assert src[0]["target"].shape[:2] == {2: (512, 512), 3: (510, 510), 4: (512, 512)}[k]


def test_lol_partial_pair_778(data_dir):
  _need("lol")
  src = DATASETS.get("lol", split="test", allow_partial=True, data_dir=data_dir)
  assert len(src) == 1 and src[0]["name"] == "778"
  low, high = src[0]["input"], src[0]["target"]
  assert low.shape == high.shape == (400, 600, 3)
  assert low.mean() < high.mean() / 2  # low light really is darker
  with pytest.raises(KeyError, match="no split 'train'"):
    DATASETS.get("lol", split="train", allow_partial=True, data_dir=data_dir)


@pytest.mark.parametrize("name,folder,count", [("dicm", "DICM", 64), ("lime", "LIME", 9)])
def test_unpaired_lowlight(data_dir, name, folder, count):
  d = _need("lowlight_unpaired", folder)
  src = DATASETS.get(name, split="test", data_dir=data_dir)
  assert len(src) == count and src[0]["target"].shape[2] == 3
  first = sorted(d.iterdir(), key=lambda p: int(p.stem))[0]
  # BMPs are re-encoded as PNG: still pixel-identical.
  np.testing.assert_array_equal(src[0]["target"], imageio.read_image(first))
