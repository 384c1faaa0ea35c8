"""Random-access image sources and the dataset registry.

A source is a sequence: `len(src)` and `src[i]` -> dict with
  'target': uint8 HWC numpy (the clean / high-quality image),
  'input':  optional uint8 HWC numpy (a truly paired degraded image; for SR it is
            the low-resolution image, smaller by the scale factor),
  'name':   str, unique within the split.
  'path':   optional str, the file (named in error messages).
Synthetic pairs (noise, low light, holes, ...) are made later, inside the
compiled step, by `enhance_jax.data.degradations`.

`DATASETS.get(name, split=..., channels=..., **kwargs)` builds a source; each
dataset family registers a factory here (TFDS-backed ones live in
`enhance_jax/data/builders/`).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from enhance_jax.registry import Registry
from enhance_jax.data import imageio

DATASETS = Registry("dataset")
register = DATASETS.register


class Source(Protocol):

  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> dict: ...


class ListSource:
  """A source over in-memory examples (dicts as described in the module doc)."""

  def __init__(self, examples: Sequence[dict]):
    self._examples = list(examples)

  def __len__(self) -> int:
    return len(self._examples)

  def __getitem__(self, index: int) -> dict:
    return self._examples[index]


class FileSource:
  """A source reading image files lazily: targets and optional paired inputs."""

  def __init__(self, targets: Sequence, inputs: Sequence | None = None,
               channels: int | None = None, names: Sequence[str] | None = None):
    if inputs is not None and len(inputs) != len(targets):
      raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets.")
    self._targets = list(map(str, targets))
    self._inputs = None if inputs is None else list(map(str, inputs))
    self._channels = channels
    self._names = list(names) if names is not None else [
        str(t).rsplit("/", 1)[-1].rsplit(".", 1)[0] for t in self._targets]

  def __len__(self) -> int:
    return len(self._targets)

  def __getitem__(self, index: int) -> dict:
    ex = {"target": imageio.read_image(self._targets[index], self._channels),
          "name": self._names[index], "path": self._targets[index]}
    if self._inputs is not None:
      ex["input"] = imageio.read_image(self._inputs[index], self._channels)
    return ex


# The embedded default dataset: photographs bundled with scikit-image (no
# network). Test images are held out from training ('cat' is 'chelsea', and the
# stereo pair's right view would leak the left one, so neither is used twice).
EMBEDDED = {
    "color": {"train": ("astronaut", "coffee", "immunohistochemistry", "hubble_deep_field",
                        "retina", "motorcycle_left"),
              "test": ("chelsea", "rocket")},
    "all": {"train": ("astronaut", "coffee", "immunohistochemistry", "hubble_deep_field",
                      "retina", "motorcycle_left", "camera", "moon", "grass", "gravel",
                      "brick", "clock", "page", "cell"),
            "test": ("chelsea", "rocket", "coins", "text")},
}


def _skimage_image(name: str, channels: int | None) -> np.ndarray:
  import skimage.data
  if name.startswith("motorcycle_"):
    arr = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
  else:
    fn = getattr(skimage.data, name, None)
    if fn is None:
      raise KeyError(f"scikit-image has no sample image {name!r}.")
    arr = fn()
  arr = np.asarray(arr)
  if arr.dtype == bool:
    arr = arr.astype(np.uint8) * 255
  if arr.dtype != np.uint8:
    arr = np.round(255 * (arr - arr.min()) / max(float(np.ptp(arr)), 1e-8)).astype(np.uint8)
  if arr.ndim == 2:
    arr = arr[..., None]
  if arr.shape[-1] == 4:
    arr = arr[..., :3]
  if channels is not None:
    arr = imageio.convert_channels(arr, channels, f"skimage.data.{name}")
  return np.ascontiguousarray(arr)


@register("embedded")
def embedded(split: str = "train", channels: int | None = 3, color_only: bool = True,
             **unused) -> ListSource:
  """Real photographs shipped inside scikit-image, loaded with no network.

  Args:
    split: 'train' or 'test' (disjoint images).
    channels: 3 (RGB; gray images are repeated) or 1 (BT.601 luma).
    color_only: keep only the natural colour photographs.
  """
  del unused
  names = EMBEDDED["color" if color_only else "all"]
  if split not in names:
    raise KeyError(f"embedded dataset: unknown split {split!r}; use 'train' or 'test'.")
  return ListSource([{"target": _skimage_image(n, channels), "name": n} for n in names[split]])
