"""A seeded subset of the ImageNet training set (N classes x M images), optionally resized.

Selection rule (reproducible from the folder listing alone): class folders are
sorted by name and N are drawn with `np.random.default_rng(seed)`; inside each
chosen class (files sorted by name) M + V files are drawn with
`np.random.default_rng([seed, class_position])`, the first M (in drawn order)
for 'train' and the next V for 'validation'.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from enhance_jax.data import imageio
from enhance_jax.data.builders import common
from enhance_jax.data.sources import register


class SubsetConfig(tfds.core.BuilderConfig):
  """num_classes x images_per_class (+ val_per_class), `resize` = shorter side (0 = keep)."""

  def __init__(self, num_classes: int = 100, images_per_class: int = 100, val_per_class: int = 0,
               resize: int = 256, seed: int = 0, **kwargs):
    super().__init__(
        name=f"c{num_classes}_m{images_per_class}_v{val_per_class}_r{resize}_s{seed}",
        description=f"{num_classes} classes x {images_per_class} train (+{val_per_class} val) "
                    f"images, shorter side {resize or 'unchanged'}, seed {seed}.", **kwargs)
    self.num_classes, self.images_per_class = num_classes, images_per_class
    self.val_per_class, self.resize, self.seed = val_per_class, resize, seed


def select(root: Path, num_classes: int, per_class: int, seed: int) -> list[tuple[str, list[Path]]]:
  """[(class name, files)] by the module's seeded rule; files in drawn order."""
  classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
  if len(classes) < num_classes:
    raise ValueError(f"imagenet_subset: {root} has {len(classes)} class folders, "
                     f"{num_classes} requested (config.data.kwargs.num_classes).")
  out = []
  for pos in common.seeded_choice(len(classes), num_classes, seed):
    files = sorted(p for p in classes[pos].iterdir()
                   if p.suffix.lower() in imageio.IMAGE_EXTENSIONS)
    if len(files) < per_class:
      raise ValueError(f"imagenet_subset: {classes[pos]} has {len(files)} images, "
                       f"{per_class} requested.")
    rng = np.random.default_rng([seed, int(pos)])
    out.append((classes[pos].name, [files[i] for i in rng.permutation(len(files))[:per_class]]))
  return out


def resize_shorter(data: bytes, path: str, side: int) -> bytes:
  """Decodes, resizes the shorter side to `side` (PIL bicubic, antialiased) -> PNG bytes."""
  arr = imageio.decode_image(data, path, channels=3)
  img = Image.fromarray(arr)
  if side and min(img.size) != side:
    w, h = img.size
    f = side / min(w, h)
    img = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC)
  buf = io.BytesIO()
  img.save(buf, format="PNG")
  return buf.getvalue()


class ImagenetSubset(common.Builder, skip_registration=True):
  """Clean natural images for enhancement pre-training, from a manual ImageNet train dir."""

  name = "ej_imagenet_subset"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [SubsetConfig()]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  <manual_dir> is the extracted ILSVRC2012 training set: one folder per class (n01440764/,
  ...) holding the JPEGs (from https://image-net.org/, registration required).
  """

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="A seeded class/image subset of ImageNet-1k train, RGB, stored as PNG "
                    "after resizing (or the original JPEG bytes when resize = 0).",
        features=common.image_features(3, encoding="png" if self.builder_config.resize else "jpeg"),
        homepage="https://image-net.org/",
        citation="""@article{russakovsky2015imagenet,
  title={{ImageNet} Large Scale Visual Recognition Challenge},
  author={Russakovsky, Olga and others}, journal={IJCV}, volume={115}, pages={211--252},
  year={2015}}""")

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    c = self.builder_config
    root = Path(dl_manager.manual_dir)
    if not root.is_dir():
      raise FileNotFoundError(f"{self.name}: manual_dir {root} is not a directory. "
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}")
    chosen = select(root, c.num_classes, c.images_per_class + c.val_per_class, c.seed)
    out = {"train": self._generate_examples(self._progress(
        "train", [f for _, fs in chosen for f in fs[:c.images_per_class]]))}
    if c.val_per_class:
      out["validation"] = self._generate_examples(self._progress(
          "validation", [f for _, fs in chosen for f in fs[c.images_per_class:]]))
    return out

  def _generate_examples(self, files):
    side = self.builder_config.resize
    for f in files:
      data = f.read_bytes()
      data = resize_shorter(data, str(f), side) if side else common.read_checked(f)
      yield f.stem, {"target": data, "name": f"{f.parent.name}/{f.stem}"}


@register("imagenet_subset")
def imagenet_subset(split: str = "train", channels: int | None = None, num_classes: int = 100,
                    images_per_class: int = 100, val_per_class: int = 0, resize: int = 256,
                    seed: int = 0, data_dir: str | None = None, manual_dir: str | None = None,
                    **unused):
  """ImageNet train subset: `num_classes` x `images_per_class` ('train'), +`val_per_class`
  per class ('validation', disjoint); shorter side resized to `resize` (0 = keep).
  `manual_dir` = the ImageNet train folder (default: TFDS's manual dir).
  """
  del unused
  config = SubsetConfig(num_classes, images_per_class, val_per_class, resize, seed)
  if config.name == ImagenetSubset.BUILDER_CONFIGS[0].name:
    config = config.name
  return common.load(ImagenetSubset, split, channels, config=config, data_dir=data_dir,
                     manual_dir=manual_dir or common.default_manual_dir("imagenet", "train"))
