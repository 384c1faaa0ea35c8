"""Berkeley images: BSDS500 and the denoising sets cut from it (BSD68, CBSD68,
Train400) plus Set12. All read from a manual folder (default: the shared data).
"""
from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds
from absl import logging

from enhance_jax.data.builders import common
from enhance_jax.data.sources import register

_BSDS_CITATION = """@article{arbelaez2011contour,
  title={Contour Detection and Hierarchical Image Segmentation},
  author={Arbel{\\'a}ez, Pablo and Maire, Michael and Fowlkes, Charless and Malik, Jitendra},
  journal={IEEE TPAMI}, volume={33}, number={5}, pages={898--916}, year={2011}}"""
_DNCNN_CITATION = """@article{zhang2017beyond,
  title={Beyond a {Gaussian} Denoiser: Residual Learning of Deep {CNN} for Image Denoising},
  author={Zhang, Kai and Zuo, Wangmeng and Chen, Yunjin and Meng, Deyu and Zhang, Lei},
  journal={IEEE TIP}, volume={26}, number={7}, pages={3142--3155}, year={2017}}"""


class FolderBuilder(common.Builder, skip_registration=True):
  """Clean images in per-split sub-folders of the manual dir (subclasses set the layout)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  SPLITS: dict[str, str] = {}   # split name -> sub-folder of manual_dir ('' = itself)
  CHANNELS = 3
  ENCODING = "png"
  DESCRIPTION = ""
  CITATION = ""
  HOMEPAGE = ""
  EXPECTED: dict[str, int] = {}  # split -> images in the standard set (warns otherwise)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=self.DESCRIPTION, features=common.image_features(self.CHANNELS,
                                                                     encoding=self.ENCODING),
        homepage=self.HOMEPAGE, citation=self.CITATION, disable_shuffling=True)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    root = Path(dl_manager.manual_dir)
    out = {}
    for split, sub in self.SPLITS.items():
      files = common.list_images(root / sub, f"{self.name} split {split!r}")
      want = self.EXPECTED.get(split)
      if want is not None and len(files) != want:
        logging.warning("%s: %s holds %d images, the standard set has %d.",
                        self.name, root / sub, len(files), want)
      out[split] = self._generate_examples(self._progress(split, common.natural_sorted(files)))
    return out

  def _generate_examples(self, files):
    for f in files:
      yield f.stem, {"target": common.read_checked(f), "name": f.stem}


class Bsds500(FolderBuilder, skip_registration=True):
  name = "ej_bsds500"
  SPLITS = {"train": "images/train", "val": "images/val", "test": "images/test"}
  EXPECTED = {"train": 200, "val": 100, "test": 200}
  ENCODING = "jpeg"
  HOMEPAGE = "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html"
  DESCRIPTION = "BSDS500 images (no segmentations): 200 train, 100 val, 200 test, 481x321 RGB."
  CITATION = _BSDS_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the BSDS500 images in <manual_dir>/images/{train,val,test}/*.jpg, e.g. from
  http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz
  (folder BSR/BSDS500/data/images) or the GitHub mirror BIDS/BSDS500.
  """


class Bsd68(FolderBuilder, skip_registration=True):
  name = "ej_bsd68"
  SPLITS = {"test": ""}
  EXPECTED = {"test": 68}
  CHANNELS = 1
  HOMEPAGE = "https://github.com/cszn/DnCNN/tree/master/testsets/BSD68"
  DESCRIPTION = "BSD68: the 68 BSDS300 test images in 8-bit gray (denoising benchmark)."
  CITATION = _DNCNN_CITATION + "\n" + _BSDS_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put test001.png ... test068.png (gray) in <manual_dir>, e.g. from cszn/DnCNN testsets/BSD68.
  """


class Cbsd68(FolderBuilder, skip_registration=True):
  name = "ej_cbsd68"
  SPLITS = {"test": ""}
  EXPECTED = {"test": 68}
  HOMEPAGE = "https://github.com/cszn/FFDNet/tree/master/testsets/CBSD68"
  DESCRIPTION = "CBSD68: the colour versions of the 68 BSD68 images (colour denoising)."
  CITATION = _DNCNN_CITATION + "\n" + _BSDS_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the 68 colour PNGs (named by BSDS id) in <manual_dir>, e.g. from cszn/FFDNet testsets/CBSD68.
  """


class Set12(FolderBuilder, skip_registration=True):
  name = "ej_set12"
  SPLITS = {"test": ""}
  EXPECTED = {"test": 12}
  CHANNELS = 1
  HOMEPAGE = "https://github.com/cszn/DnCNN/tree/master/testsets/Set12"
  DESCRIPTION = "Set12: 12 classic gray test images (7 of 256x256, 5 of 512x512)."
  CITATION = _DNCNN_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put 01.png ... 12.png (gray) in <manual_dir>, e.g. from cszn/DnCNN testsets/Set12.
  """


class Train400(FolderBuilder, skip_registration=True):
  name = "ej_train400"
  SPLITS = {"train": ""}
  EXPECTED = {"train": 400}
  CHANNELS = 1
  HOMEPAGE = ("https://github.com/cszn/DnCNN/tree/master/TrainingCodes/"
              "DnCNN_TrainingCodes_v1.0/data/Train400")
  DESCRIPTION = "Train400: the DnCNN gray training set, 400 BSD crops of 180x180."
  CITATION = _DNCNN_CITATION
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put test_001.png ... test_400.png in <manual_dir>, e.g. from cszn/DnCNN
  TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400.
  """


def _factory(builder_cls, folder: str, doc: str):
  """A `DATASETS` factory named `folder` (also the shared-data folder) for `builder_cls`."""
  def factory(split: str = "test", channels: int | None = None, data_dir: str | None = None,
              manual_dir: str | None = None, **unused):
    del unused
    return common.load(builder_cls, split, channels, data_dir=data_dir,
                       manual_dir=manual_dir or common.default_manual_dir(folder),
                       split_aliases={"validation": "val"})
  factory.__doc__ = doc + """

  Args:
    split: see the builder's SPLITS.
    channels: 1 (gray) or 3 (RGB) conversion on read; None keeps the stored channels.
    data_dir: TFDS data dir for the prepared array_record files.
    manual_dir: the image folder (default: the matching shared-data folder).
  """
  factory.__name__ = factory.__qualname__ = folder
  return register(folder)(factory)


bsds500 = _factory(Bsds500, "bsds500", "BSDS500 RGB: 'train' 200, 'val' 100, 'test' 200.")
bsd68 = _factory(Bsd68, "bsd68", "BSD68 gray denoising test set: 'test' 68.")
cbsd68 = _factory(Cbsd68, "cbsd68", "CBSD68 colour denoising test set: 'test' 68.")
set12 = _factory(Set12, "set12", "Set12 gray test set: 'test' 12.")
train400 = _factory(Train400, "train400", "DnCNN Train400 gray: 'train' 400.")
