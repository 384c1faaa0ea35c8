"""LOL (LOw-Light) paired dataset: 'train' = our485, 'test' = eval15 (low/high pairs)."""
from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from enhance_jax.data.builders import common
from enhance_jax.data.sources import register

SPLITS = {"train": ("our485", 485), "test": ("eval15", 15)}
SHA256_LIST = "EXPECTED_SHA256_eval15_and_our485high.txt"


class LolConfig(tfds.core.BuilderConfig):
  """`allow_partial`: build from the complete pairs present (splits may be missing)."""

  def __init__(self, allow_partial: bool, **kwargs):
    super().__init__(name="partial" if allow_partial else "full",
                     description=("Only the complete pairs present in manual_dir."
                                  if allow_partial else "All 485 + 15 pairs required."), **kwargs)
    self.allow_partial = allow_partial


def read_sha256_list(path: Path) -> dict[str, tuple[str, int]]:
  """'sha256  relpath  size' lines -> {relpath: (sha256, size)}."""
  out = {}
  for line in path.read_text().splitlines():
    parts = line.split()
    if len(parts) >= 2 and not line.startswith("#"):
      out[parts[1]] = (parts[0], int(parts[2]) if len(parts) > 2 else -1)
  return out


class Lol(common.Builder, skip_registration=True):
  """LOL (Wei et al., BMVC 2018) from a manual folder."""

  name = "ej_lol"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [LolConfig(False), LolConfig(True)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download LOL (https://daooshee.github.io/BMVC2018website/) and put
  <manual_dir>/our485/{low,high}/N.png and <manual_dir>/eval15/{low,high}/N.png.
  If <manual_dir>/EXPECTED_SHA256_eval15_and_our485high.txt exists, the files it lists
  are verified. With fewer pairs, pass allow_partial=True (config 'partial'); delete
  the prepared ej_lol/partial folder to rebuild when more pairs arrive.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="LOL: 500 low/normal-light pairs of 600x400 RGB (485 train, 15 test); "
                    "'input' = low light, 'target' = normal light.",
        features=common.image_features(3, paired=True),
        homepage="https://daooshee.github.io/BMVC2018website/",
        citation="""@inproceedings{wei2018deep,
  title={Deep Retinex Decomposition for Low-Light Enhancement},
  author={Wei, Chen and Wang, Wenjing and Yang, Wenhan and Liu, Jiaying},
  booktitle={BMVC}, year={2018}}""",
        disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = Path(dl_manager.manual_dir)
    partial = self.builder_config.allow_partial
    expected = {}
    if (root / SHA256_LIST).exists():
      expected = read_sha256_list(root / SHA256_LIST)
    out, problems = {}, []
    for split, (sub, count) in SPLITS.items():
      low_dir, high_dir = root / sub / "low", root / sub / "high"
      lows = {p.stem: p for p in _images(low_dir)}
      highs = {p.stem: p for p in _images(high_dir)}
      names = sorted(set(lows) & set(highs), key=lambda s: int(s) if s.isdigit() else s)
      if not partial and len(names) != count:
        problems.append(f"{sub}: {len(names)} complete pairs of {count}")
        continue
      for p in [*(lows[n] for n in names), *(highs[n] for n in names)]:
        rel = p.relative_to(root).as_posix()
        if rel in expected and common.sha256(p) != expected[rel][0]:
          raise ValueError(f"{self.name}: {p} does not match its sha256 in {SHA256_LIST} "
                           "(corrupt or different file).")
      if names:
        out[split] = self._generate_examples(
            self._progress(split, [(n, lows[n], highs[n]) for n in names]))
    if problems:
      raise FileNotFoundError(f"{self.name}: incomplete data in {root} ({'; '.join(problems)}). "
                              "Pass allow_partial=True (config.data.kwargs) to build from the "
                              f"pairs present. {self.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}")
    if not out:
      raise FileNotFoundError(f"{self.name}: no complete low/high pair in {root}.")
    return out

  def _generate_examples(self, pairs):
    for name, low, high in pairs:
      yield name, {"input": common.read_checked(low), "target": common.read_checked(high),
                   "name": name}


def _images(folder: Path) -> list[Path]:
  return common.list_images(folder, "lol") if folder.is_dir() else []


@register("lol")
def lol(split: str = "train", channels: int | None = None, allow_partial: bool = False,
        data_dir: str | None = None, manual_dir: str | None = None, **unused):
  """LOL pairs ('input' low light, 'target' normal): 'train' 485, 'test' 15.

  `allow_partial=True` builds from the complete pairs present (the shared data
  has only eval15 pair 778); a split without pairs then raises KeyError.
  """
  del unused
  return common.load(Lol, split, channels, config="partial" if allow_partial else "full",
                     data_dir=data_dir, manual_dir=manual_dir or common.default_manual_dir("lol"),
                     split_aliases={"eval": "test", "eval15": "test", "our485": "train"})


# --- Unpaired (no-reference) low-light test sets ------------------------------
# The images are low-light inputs with no ground truth; they are stored as
# 'target' (the source contract's always-present key) and are meant for
# no-reference evaluation or for enhancement demos.

from enhance_jax.data.builders.bsd import FolderBuilder  # noqa: E402

_ZERO_DCE_CITATION = """@inproceedings{guo2020zero,
  title={Zero-Reference Deep Curve Estimation for Low-Light Image Enhancement},
  author={Guo, Chunle and Li, Chongyi and Guo, Jichang and Loy, Chen Change and Hou, Junhui
          and Kwong, Sam and Cong, Runmin}, booktitle={CVPR}, year={2020}}"""


class Dicm(FolderBuilder, skip_registration=True):
  name = "ej_dicm"
  SPLITS = {"test": ""}
  EXPECTED = {"test": 64}
  ENCODING = "jpeg"
  HOMEPAGE = "https://github.com/Li-Chongyi/Zero-DCE"
  DESCRIPTION = "DICM: 64 low-light JPEGs without references (Lee et al., ICIP 2012)."
  CITATION = _ZERO_DCE_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the DICM images (01.jpg ...) in <manual_dir>, e.g. from Li-Chongyi/Zero-DCE
  Zero-DCE_code/data/test_data/DICM.
  """


class Lime(FolderBuilder, skip_registration=True):
  name = "ej_lime"
  SPLITS = {"test": ""}
  EXPECTED = {"test": 10}
  ENCODING = "png"  # the BMPs are re-encoded losslessly
  HOMEPAGE = "https://github.com/Li-Chongyi/Zero-DCE"
  DESCRIPTION = "LIME: 10 low-light BMPs without references (Guo et al., TIP 2017)."
  CITATION = _ZERO_DCE_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the LIME images (1.bmp ... 10.bmp) in <manual_dir>, e.g. from Li-Chongyi/Zero-DCE
  Zero-DCE_code/data/test_data/LIME.
  """


def _unpaired(builder_cls, key: str, folder: str, doc: str):
  def factory(split: str = "test", channels: int | None = None, data_dir: str | None = None,
              manual_dir: str | None = None, **unused):
    del unused
    return common.load(builder_cls, split, channels, data_dir=data_dir,
                       manual_dir=manual_dir or common.default_manual_dir(
                           "lowlight_unpaired", folder))
  factory.__doc__ = doc
  factory.__name__ = factory.__qualname__ = key
  return register(key)(factory)


dicm = _unpaired(Dicm, "dicm", "DICM", "DICM low-light images (no reference): 'test' 64.")
lime = _unpaired(Lime, "lime", "LIME", "LIME low-light images (no reference): 'test' 10 "
                 "(the shared data has 9; 5.bmp is missing).")
