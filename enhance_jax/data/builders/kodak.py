"""Kodak PhotoCD set: 24 lossless true-colour images (768x512 / 512x768)."""
from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from enhance_jax.data.builders import common
from enhance_jax.data.sources import register

_URL = "http://r0k.us/graphics/kodak/kodak/kodim{:02d}.png"
NUM_IMAGES = 24


class Kodak(common.Builder, skip_registration=True):
  """Kodak24, downloaded from r0k.us (no checksums registered) or read from manual_dir."""

  name = "ej_kodak"
  DOWNLOADABLE = True
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Optional: put kodim01.png ... kodim24.png in <manual_dir>; otherwise they are
  downloaded from http://r0k.us/graphics/kodak/.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Kodak Lossless True Color Image Suite (24 PNGs), a colour denoising / "
                    "compression benchmark.",
        features=common.image_features(3),
        homepage="http://r0k.us/graphics/kodak/",
        citation="Kodak Lossless True Color Image Suite, http://r0k.us/graphics/kodak/ (1999).",
        disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    names = [f"kodim{i:02d}" for i in range(1, NUM_IMAGES + 1)]
    manual = Path(dl_manager.manual_dir) if dl_manager.manual_dir else None
    if manual is not None and all((manual / f"{n}.png").exists() for n in names):
      files = {n: manual / f"{n}.png" for n in names}
    else:
      with common.tfds_progress_bars(True):
        got = dl_manager.download({n: _URL.format(i) for i, n in enumerate(names, 1)})
      files = {n: Path(p) for n, p in got.items()}
    return {"test": self._generate_examples(self._progress("test", sorted(files.items())))}

  def _generate_examples(self, files):
    for name, path in files:
      yield name, {"target": common.read_checked(path), "name": name}


@register("kodak")
def kodak(split: str = "test", channels: int | None = None, data_dir: str | None = None,
          manual_dir: str | None = None, **unused):
  """Kodak24 'test' (24 RGB images); downloaded unless `manual_dir` holds them."""
  del unused
  return common.load(Kodak, split, channels, data_dir=data_dir,
                     manual_dir=manual_dir or common.default_manual_dir("kodak"))
