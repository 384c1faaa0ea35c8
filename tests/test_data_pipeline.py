"""The training input pipeline's throughput options leave the batches unchanged:
decoded-image cache, crops per image, worker processes, prefetch to device."""
import multiprocessing

import numpy as np
import pytest
from PIL import Image

from enhance_jax.config import base_config
from enhance_jax.data import pipeline, sources


def _data_cfg(**overrides):
  c = base_config().data
  c.patch_size = 16
  for k, v in overrides.items():
    c[k] = v
  return c


def _images(n: int, size: int = 40) -> list[np.ndarray]:
  return [np.random.default_rng(i).integers(0, 256, (size, size + 4 * i, 3), dtype=np.uint8)
          for i in range(n)]


def _file_source(tmp_path, n: int = 5) -> sources.FileSource:
  paths = []
  for i, img in enumerate(_images(n)):
    paths.append(tmp_path / f"img{i}.png")
    Image.fromarray(img).save(paths[-1])
  return sources.FileSource(paths, channels=3)


def _list_source(n: int = 5) -> sources.ListSource:
  return sources.ListSource([{"target": img, "name": str(i)} for i, img in enumerate(_images(n))])


def _batches(src, cfg, n, seed=0, gb=4, rows=slice(0, 4), start=0):
  it = pipeline.train_batches(src, cfg, seed, gb, rows, start)
  out = [next(it) for _ in range(n)]
  it.close()
  return out


def _same(a, b) -> bool:
  return len(a) == len(b) and all(
      x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b))


class _CountingSource:
  """A source that counts its reads (decodes)."""

  def __init__(self, src):
    self.src, self.reads = src, 0

  def __len__(self):
    return len(self.src)

  def __getitem__(self, i):
    self.reads += 1
    return self.src[i]


def test_cache_decodes_once_when_the_set_fits_and_never_changes_batches(tmp_path):
  files = _file_source(tmp_path)
  fits = sum(img.nbytes for img in _images(5)) / 2**20
  cached = pipeline.cache_decoded(files, fits * 1.01)
  assert isinstance(cached, sources.ListSource) and len(cached) == 5
  np.testing.assert_array_equal(cached[3]["target"], files[3]["target"])
  assert pipeline.cache_decoded(files, fits * 0.99) is files      # does not fit
  assert pipeline.cache_decoded(files, 0) is files                # off
  ref = _batches(files, _data_cfg(cache_mb=0), 5)
  assert _same(ref, _batches(files, _data_cfg(cache_mb=64), 5))
  counting = _CountingSource(files)
  _batches(counting, _data_cfg(cache_mb=64), 5)  # 20 examples of 5 images: one read each
  assert counting.reads == 5


def test_crops_per_image_share_a_decoded_image_and_stay_deterministic():
  src = _list_source(5)
  k = 3
  ex = pipeline.TrainExamples(src, _data_cfg(crops_per_image=k), seed=2)
  idx = [ex.index(i) for i in range(3 * 5 * k)]
  assert all(idx[g * k:(g + 1) * k] == [idx[g * k]] * k for g in range(len(idx) // k))
  for e in range(3):  # each epoch of len(source) * k elements covers every image k times
    epoch = idx[e * 5 * k:(e + 1) * 5 * k]
    assert sorted(epoch) == sorted(list(range(5)) * k)
  one = pipeline.TrainExamples(src, _data_cfg(), seed=2)
  assert [one.index(i) for i in range(5)] == [idx[g * k] for g in range(5)]
  # Crops of one image differ (own generator per element).
  assert not np.array_equal(ex[0]["target"], ex[1]["target"])
  # Counting reads per batch: a batch of 6 with k=3 reads 2 images, not 6.
  counting = _CountingSource(src)
  pipeline.TrainExamples(counting, _data_cfg(crops_per_image=k), seed=2).batch(0, 6)
  assert counting.reads == 2
  cfg = _data_cfg(crops_per_image=k)
  ref = _batches(src, cfg, 6, seed=2)
  assert _same(ref, _batches(src, cfg, 6, seed=2))
  assert _same(ref[4:], _batches(src, cfg, 2, seed=2, start=4))  # resume at step 4
  assert not _same(ref, _batches(src, _data_cfg(), 6, seed=2))
  with pytest.raises(ValueError, match="crops_per_image"):
    _batches(src, _data_cfg(crops_per_image=0), 1)


def test_worker_processes_give_the_same_batches_and_resume():
  src = _list_source(5)
  ref = _batches(src, _data_cfg(crops_per_image=2), 6, seed=1)
  cfg = _data_cfg(crops_per_image=2, num_workers=2)
  it = pipeline.train_batches(src, cfg, 1, 4, slice(0, 4))
  got = [next(it)]
  workers = multiprocessing.active_children()
  assert len(workers) >= 2, workers  # processes, not threads
  got += [next(it) for _ in range(5)]
  it.close()
  assert _same(ref, got)
  assert _same(ref[3:], _batches(src, cfg, 3, seed=1, start=3))
  assert _same([{"target": b["target"][2:]} for b in ref],
               _batches(src, cfg, 6, seed=1, rows=slice(2, 4)))


def test_prefetch_to_device_puts_ahead_and_keeps_order():
  puts = []

  def put(b):
    puts.append(b)
    return -b

  it = pipeline.prefetch_to_device(iter(range(10)), put, 2)
  assert next(it) == 0 and puts == [0, 1, 2]   # two more already on their way
  assert list(it) == [-i for i in range(1, 10)]
  puts.clear()
  lazy = pipeline.prefetch_to_device(iter(range(3)), put, 0)
  assert next(lazy) == 0 and puts == [0]


def test_cache_reports_a_summary_line(tmp_path, capsys):
  files = _file_source(tmp_path, n=3)
  pipeline.cache_decoded(files, 64, "cache x train")
  err = capsys.readouterr().err.splitlines()
  assert len(err) == 1 and err[0].startswith("cache x train: 3 images in ")
  assert err[0].endswith(f"; {sum(i.nbytes for i in _images(3)) / 2**20:.1f} MiB decoded in memory")
  pipeline.cache_decoded(files, 0.001, "cache x train")  # does not fit: no summary
  assert capsys.readouterr().err == ""
