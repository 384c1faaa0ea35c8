"""Shared pieces of the TFDS builders: features, file helpers, the source wrapper.

Every builder stores the original encoded file bytes (PNG/JPEG/BMP, never
re-encoded unless resized) in `tfds.features.Image` features named 'target'
and optionally 'input', plus 'name' (file stem). Examples are read back with
`builder.as_data_source(split)` (array_record, no TensorFlow) and decoded by
`enhance_jax.data.imageio.decode_image`, so errors name the file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from enhance_jax.data import imageio
from enhance_jax.data.paths import shared_subdir
from enhance_jax.training import logs

FILE_FORMAT = "array_record"
_T = TypeVar("_T")


class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of our builders: array_record only, not in TFDS's global registry.

  `code_path` is overridden because TFDS 4.9.10 needs the `importlib_resources`
  backport to find it on Python >= 3.9 (an undeclared dependency); the
  builder's `checksums.tsv` is then found beside this package's modules.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    return epath.Path(sys.modules[cls.__module__].__file__)

  DOWNLOADABLE = False  # True: manual_dir is optional (files are downloaded otherwise)

  def _progress(self, split: str, items: Sequence[_T]) -> Iterator[_T]:
    """`items` (one per example of `split`), reporting the build's progress with ETA
    ('build ej_set5/x3 test 3/5 images | ...', see `with_progress`). Subclasses pass their
    `_generate_examples` the items through this."""
    config = f"/{self.builder_config.name}" if self.builder_config else ""
    return with_progress(items, f"build {self.name}{config} {split}")


def with_progress(items: Sequence[_T], label: str) -> Iterator[_T]:
  """Yields `items`, telling a `logs.Ticker` after each one is consumed.

  Item i counts as done when the consumer asks for item i + 1 (TFDS has then
  encoded and written its example), so the rate and ETA cover the whole build.
  On a terminal: a line at most once a second; always a summary line at the end.
  The Ticker starts at the first item, i.e. when TFDS starts this split.
  """
  ticker = logs.Ticker(label, len(items))
  for i, item in enumerate(items):
    yield item
    ticker.update(i + 1)
  ticker.finish()


@contextlib.contextmanager
def tfds_progress_bars(enable: bool):
  """TFDS's tqdm bars on or off inside the block (restored after). They are off while
  we build (our `logs.Ticker` lines report it; TFDS's own bar has no total and would
  overwrite them) and on while files download (TFDS's byte counters)."""
  from tensorflow_datasets.core.utils import tqdm_utils  # pylint: disable=g-import-not-at-top
  before = getattr(tqdm_utils, "_active", True)
  tfds.display_progress_bar(enable)
  try:
    yield
  finally:
    tfds.display_progress_bar(before)


def image_features(channels: int = 3, paired: bool = False,
                   encoding: str = "png") -> tfds.features.FeaturesDict:
  """{'target': Image, ['input': Image,] 'name': Text}; images of any H, W."""
  def image():
    return tfds.features.Image(shape=(None, None, channels), encoding_format=encoding)

  feats = {"target": image(), "name": tfds.features.Text()}
  if paired:
    feats["input"] = image()
  return tfds.features.FeaturesDict(feats)


def read_checked(path: str | os.PathLike) -> bytes:
  """The bytes of an image file, after checking that it decodes (clear error naming it).

  PNG and JPEG files are returned as they are; other formats (BMP, TIFF, ...)
  are re-encoded losslessly as PNG (TFDS Image features hold PNG or JPEG).
  """
  data = Path(path).read_bytes()
  arr = imageio.decode_image(data, str(path))
  if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg"):
    return data
  buf = io.BytesIO()
  Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(buf, format="PNG")
  return buf.getvalue()


def list_images(folder: str | os.PathLike, what: str) -> list[Path]:
  """Sorted image files of `folder`; a clear error naming `what` if missing/empty."""
  try:
    return imageio.list_images(folder)
  except imageio.ImageReadError as e:
    raise FileNotFoundError(f"{what}: {e}") from None


def sha256(path: str | os.PathLike) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def default_manual_dir(*parts: str) -> str | None:
  """The shared-data folder for a dataset if it exists, else None (TFDS default)."""
  d = shared_subdir(*parts)
  return str(d) if d.is_dir() else None


class TfdsSource:
  """Random-access source over a prepared builder's split (see `data.sources`).

  `src[i]` -> {'target': uint8 HWC, ['input': uint8 HWC,] 'name': str}.
  """

  def __init__(self, builder: tfds.core.DatasetBuilder, split: str,
               channels: int | None = None):
    image_keys = [k for k, f in builder.info.features.items()
                  if isinstance(f, tfds.features.Image)]
    config = f"{builder.builder_config.name}/" if builder.builder_config else ""
    self._label = f"{builder.name}/{config}{split}"
    self._ds = builder.as_data_source(
        split, decoders={k: tfds.decode.SkipDecoding() for k in image_keys})
    self._image_keys = image_keys
    self._channels = channels

  def __len__(self) -> int:
    return len(self._ds)

  def __getitem__(self, index: int) -> dict:
    record = self._ds[index]
    name = record["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    out = {"name": name}
    for k in self._image_keys:
      out[k] = imageio.decode_image(bytes(record[k]), f"{self._label}[{index}] {name!r} ({k})",
                                    channels=self._channels)
    return out

  def __repr__(self) -> str:
    return f"TfdsSource({self._label}, {len(self)} examples)"


def load(builder_cls, split: str, channels: int | None = None, *, config=None,
         data_dir: str | None = None, manual_dir: str | None = None,
         split_aliases: dict[str, str] | None = None) -> TfdsSource:
  """Builds `builder_cls` if needed (from `manual_dir`) and wraps `split`.

  Args:
    builder_cls: a `tfds.core.GeneratorBasedBuilder` subclass.
    split: a split name (aliases mapped by `split_aliases`), optionally with a
      TFDS slice, e.g. 'train[:10%]'.
    channels: 1 or 3 to convert on read; None keeps what is stored.
    config: a BuilderConfig name or object (None = the builder's default).
    data_dir: where prepared data goes (default $TFDS_DATA_DIR or ~/tensorflow_datasets).
    manual_dir: the folder the builder reads files from.
  """
  base, _, slice_ = split.partition("[")
  base = (split_aliases or {}).get(base, base)
  split = base + (f"[{slice_}" if slice_ else "")
  if manual_dir is not None and not (Path(manual_dir).is_dir() and any(Path(manual_dir).iterdir())):
    if getattr(builder_cls, "DOWNLOADABLE", False):
      manual_dir = None
    else:
      raise FileNotFoundError(
          f"{builder_cls.name}: manual_dir {manual_dir} is missing or empty "
          f"(config.data.kwargs.manual_dir). {builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}")
  builder = builder_cls(data_dir=data_dir, config=config, file_format=FILE_FORMAT)
  if not builder.is_prepared():
    dl_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    with tfds_progress_bars(False):
      builder.download_and_prepare(download_config=dl_config, file_format=FILE_FORMAT)
  splits = sorted(builder.info.splits.keys())
  if base not in splits:
    raise KeyError(f"Dataset {builder.name!r} ({builder.data_dir}) has no split {base!r}; "
                   f"available: {', '.join(splits)}.")
  return TfdsSource(builder, split, channels)


def pairs_by_stem(inputs: Iterable[Path], targets: Iterable[Path], what: str,
                  input_suffix: str = "") -> list[tuple[str, Path, Path]]:
  """Matches input and target files by stem (inputs may carry `input_suffix`, e.g. 'x2').

  Returns sorted [(stem, input, target)]; raises naming unmatched files.
  """
  ins = {p.stem[:len(p.stem) - len(input_suffix)] if input_suffix and p.stem.endswith(input_suffix)
         else p.stem: p for p in inputs}
  tgs = {p.stem: p for p in targets}
  missing_in = sorted(set(tgs) - set(ins))
  missing_tg = sorted(set(ins) - set(tgs))
  if missing_in or missing_tg:
    raise ValueError(f"{what}: unmatched files — targets without input: {missing_in[:10]}, "
                     f"inputs without target: {missing_tg[:10]}.")
  return [(s, ins[s], tgs[s]) for s in sorted(tgs, key=_natural_key)]


def _natural_key(s: str):
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def natural_sorted(paths: Iterable[Path]) -> list[Path]:
  """Paths sorted by stem with numbers compared numerically ('2' < '10')."""
  return sorted(paths, key=lambda p: _natural_key(p.stem))


def seeded_choice(n: int, k: int, seed) -> np.ndarray:
  """k sorted indices out of range(n), chosen by `np.random.default_rng(seed)`."""
  return np.sort(np.random.default_rng(seed).choice(n, size=min(k, n), replace=False))
