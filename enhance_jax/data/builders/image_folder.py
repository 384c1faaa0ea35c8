"""`image_folder`: any folder of clean images, or two folders of pairs matched by name.

A plain `FileSource` factory (no TFDS build step): files are read lazily, so a
new folder is usable at once and nothing is copied.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from enhance_jax.data import imageio
from enhance_jax.data.builders import common
from enhance_jax.data.sources import FileSource, register


@register("image_folder")
def image_folder(split: str = "train", channels: int | None = None,
                 target_dir: str | Sequence[str] = "", input_dir: str = "",
                 input_suffix: str = "", **unused) -> FileSource:
  """Images of `target_dir` (and paired inputs of `input_dir`, matched by file stem).

  `target_dir` may also be a list of folders (no `input_dir`): their images in
  order, each named '<folder name>/<stem>' (e.g. DICM and LIME together).

  Args:
    split: if `target_dir/<split>` exists it is used (and `input_dir/<split>`);
      otherwise the folders themselves are used for every split.
    channels: 1 or 3 conversion on read; None keeps gray 1 and colour 3 channels.
    target_dir: folder of clean / ground-truth images (config.data.kwargs.target_dir).
    input_dir: optional folder of degraded inputs with the same stems (after
      removing `input_suffix`, e.g. 'x4' for '0001x4.png').

  Raises:
    FileNotFoundError: missing or empty folders; ValueError: unmatched names.
  """
  del unused
  if not target_dir:
    raise ValueError("image_folder: set config.data.kwargs.target_dir to a folder of images.")
  if not isinstance(target_dir, (str, Path)):
    if input_dir:
      raise ValueError("image_folder: input_dir pairs need a single target_dir folder.")
    files, names = [], []
    for d in map(Path, target_dir):
      d = d.expanduser()
      d = d / split if (d / split).is_dir() else d
      try:
        found = common.natural_sorted(imageio.list_images(d))
      except imageio.ImageReadError as e:
        raise FileNotFoundError(f"image_folder: {e}") from None
      files += found
      names += [f"{d.name}/{f.stem}" for f in found]
    return FileSource(files, channels=channels, names=names)
  tdir, idir = Path(target_dir).expanduser(), Path(input_dir).expanduser() if input_dir else None
  if (tdir / split).is_dir():
    tdir = tdir / split
    idir = idir / split if idir is not None and (idir / split).is_dir() else idir
  try:
    targets = imageio.list_images(tdir)
    inputs = imageio.list_images(idir) if idir is not None else None
  except imageio.ImageReadError as e:
    raise FileNotFoundError(f"image_folder: {e}") from None
  if inputs is None:
    files = common.natural_sorted(targets)
    return FileSource(files, channels=channels, names=[p.stem for p in files])
  pairs = common.pairs_by_stem(inputs, targets, f"image_folder {idir} vs {tdir}", input_suffix)
  return FileSource([t for _, _, t in pairs], [i for _, i, _ in pairs], channels=channels,
                    names=[s for s, _, _ in pairs])
