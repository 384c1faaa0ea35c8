"""Super-resolution sets: Set5 (shipped HR/LR pairs) and DIV2K (HR + bicubic LR).

One builder config per scale ('x2', 'x3', 'x4'); examples hold 'target' = HR
and 'input' = LR (HR side / scale).
"""
from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from enhance_jax.data.builders import common
from enhance_jax.data.sources import register

SCALES = (2, 3, 4)


class ScaleConfig(tfds.core.BuilderConfig):
  """One SR scale factor."""

  def __init__(self, scale: int, **kwargs):
    super().__init__(name=f"x{scale}", description=f"Bicubic x{scale} LR inputs.", **kwargs)
    self.scale = scale


def _scale_config(builder_cls, scale: int) -> str:
  if int(scale) not in SCALES:
    raise ValueError(f"{builder_cls.name}: scale must be one of {SCALES}, got {scale!r} "
                     "(config.data.kwargs.scale).")
  return f"x{int(scale)}"


class Set5(common.Builder, skip_registration=True):
  """Set5 HR crops and their MATLAB-bicubic LR images (SelfExSR release)."""

  name = "ej_set5"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [ScaleConfig(s) for s in SCALES]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  <manual_dir>/image_SRF_{2,3,4}/img_00N_SRF_k_{HR,LR}.png as in jbhuang0604/SelfExSR data/Set5.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Set5 (baby, bird, butterfly, head, woman): HR cropped to a multiple of the "
                    "scale, LR = MATLAB imresize(HR, 1/k, 'bicubic').",
        features=common.image_features(3, paired=True),
        homepage="https://github.com/jbhuang0604/SelfExSR",
        citation="""@inproceedings{bevilacqua2012low,
  title={Low-Complexity Single-Image Super-Resolution based on Nonnegative Neighbor Embedding},
  author={Bevilacqua, Marco and Roumy, Aline and Guillemot, Christine and Alberi-Morel, Marie-Line},
  booktitle={BMVC}, year={2012}}""",
        disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    k = self.builder_config.scale
    folder = Path(dl_manager.manual_dir) / f"image_SRF_{k}"
    hr = [f for f in common.list_images(folder, f"{self.name} x{k}") if f.stem.endswith("_HR")]
    if not hr:
      raise FileNotFoundError(f"{self.name}: no *_HR.png in {folder}.")
    pairs = []
    for f in hr:
      lr = f.with_name(f.name.replace("_HR", "_LR"))
      if not lr.exists():
        raise FileNotFoundError(f"{self.name}: {f} has no LR partner {lr.name}.")
      pairs.append((f.stem.replace(f"_SRF_{k}_HR", ""), lr, f))
    return {"test": self._generate_examples(self._progress("test", pairs))}

  def _generate_examples(self, pairs):
    for name, lr, hr in pairs:
      yield name, {"input": common.read_checked(lr), "target": common.read_checked(hr),
                   "name": name}


@register("set5")
def set5(split: str = "test", channels: int | None = None, scale: int = 4,
         data_dir: str | None = None, manual_dir: str | None = None, **unused):
  """Set5 HR ('target') / LR ('input') pairs at `scale` (2, 3 or 4); split 'test' (5)."""
  del unused
  return common.load(Set5, split, channels, config=_scale_config(Set5, scale), data_dir=data_dir,
                     manual_dir=manual_dir or common.default_manual_dir("set5"))


_DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


class Div2k(common.Builder, skip_registration=True):
  """DIV2K: 800 train + 100 validation 2K images with bicubic LR (NTIRE 2017)."""

  name = "ej_div2k"
  DOWNLOADABLE = True
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [ScaleConfig(s) for s in SCALES]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Optional: extract the DIV2K zips into <manual_dir> (DIV2K_{train,valid}_HR/0001.png,
  DIV2K_{train,valid}_LR_bicubic/X{k}/0001x{k}.png); otherwise they are downloaded from
  https://data.vision.ee.ethz.ch/cvl/DIV2K/ (checksums in builders/checksums.tsv).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="DIV2K HR PNGs (about 2040 px wide) and MATLAB bicubic LR PNGs.",
        features=common.image_features(3, paired=True),
        homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
        citation="""@inproceedings{agustsson2017ntire,
  title={NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and Study},
  author={Agustsson, Eirikur and Timofte, Radu},
  booktitle={CVPR Workshops}, year={2017}}""",
        disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    k = self.builder_config.scale
    parts = {f"{p}_hr": f"DIV2K_{p}_HR" for p in ("train", "valid")}
    parts.update({f"{p}_lr": f"DIV2K_{p}_LR_bicubic" for p in ("train", "valid")})
    manual = Path(dl_manager.manual_dir) if dl_manager.manual_dir else None
    if manual is not None and (manual / "DIV2K_train_HR").is_dir():
      roots = {key: manual for key in parts}
    else:
      urls = {key: _DIV2K_URL + (f"{d}_X{k}.zip" if key.endswith("lr") else f"{d}.zip")
              for key, d in parts.items()}
      with common.tfds_progress_bars(True):
        roots = {key: Path(p) for key, p in dl_manager.download_and_extract(urls).items()}
    out = {}
    for split, p in (("train", "train"), ("validation", "valid")):
      hr_dir = _find_dir(roots[f"{p}_hr"], f"DIV2K_{p}_HR")
      lr_dir = _find_dir(roots[f"{p}_lr"], f"DIV2K_{p}_LR_bicubic/X{k}")
      pairs = common.pairs_by_stem(common.list_images(lr_dir, f"{self.name} {split} LR"),
                                   common.list_images(hr_dir, f"{self.name} {split} HR"),
                                   f"{self.name} x{k} {split}", input_suffix=f"x{k}")
      out[split] = self._generate_examples(self._progress(split, pairs))
    return out

  def _generate_examples(self, pairs):
    for name, lr, hr in pairs:
      yield name, {"input": lr.read_bytes(), "target": hr.read_bytes(), "name": name}


def _find_dir(root: Path, rel: str) -> Path:
  """`root/rel`, or else the one folder below `root` whose path ends with `rel`."""
  if (root / rel).is_dir():
    return root / rel
  found = [d for d in root.rglob(Path(rel).name) if d.is_dir() and d.as_posix().endswith(rel)]
  if len(found) != 1:
    raise FileNotFoundError(f"ej_div2k: expected one folder {rel!r} under {root}, found "
                            f"{[str(f) for f in found] or 'none'}.")
  return found[0]


@register("div2k")
def div2k(split: str = "train", channels: int | None = None, scale: int = 4,
          data_dir: str | None = None, manual_dir: str | None = None, **unused):
  """DIV2K HR ('target') / bicubic LR ('input') at `scale`; 'train' 800, 'validation' 100.

  Downloads (about 4.5 GB for HR + one scale) unless `manual_dir` holds the
  extracted folders.
  """
  del unused
  return common.load(Div2k, split, channels, config=_scale_config(Div2k, scale),
                     data_dir=data_dir, manual_dir=manual_dir,
                     split_aliases={"valid": "validation", "val": "validation",
                                    "test": "validation"})
