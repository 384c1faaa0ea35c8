"""Host-side paired augmentation (numpy), used by the grain pipeline.

Examples are dicts as produced by the sources (`data.sources`): 'target' uint8
HWC, optional 'input' (same size, or smaller by an SR `scale`), 'name'; an
optional 'mask' (HW1) follows the target geometry. Every function takes a
`np.random.Generator` and applies identical geometry to all image keys.
"""
from __future__ import annotations

import numpy as np

_TARGET_LIKE = ("target", "mask")


def _name(example: dict) -> str:
  return str(example.get("path") or example.get("name", "<unnamed>"))


def paired_random_crop(example: dict, patch_size: int, scale: int = 1,
                       rng: np.random.Generator | None = None) -> dict:
  """Crops a `patch_size`² target patch and the aligned input patch.

  Without 'input', only the target (and mask) is cropped. With an input smaller
  by `scale` (SR), the input patch is `patch_size // scale` at the matching
  position (the target offset is a multiple of `scale`); with a same-size input
  both are cropped identically.

  Raises:
    ValueError: images smaller than the patch, patch not divisible by the
      scale, or input/target sizes that do not match the scale (names the example).
  """
  rng = rng if rng is not None else np.random.default_rng()
  target = example["target"]
  h, w = target.shape[:2]
  if h < patch_size or w < patch_size:
    raise ValueError(f"Example {_name(example)!r}: image {h}x{w} (HxW) is smaller than the "
                     f"patch {patch_size}x{patch_size}; lower data.patch_size or drop it.")
  out = dict(example)
  inp = example.get("input")
  s = 1
  if inp is not None:
    ih, iw = inp.shape[:2]
    s = scale if (ih, iw) != (h, w) else 1
    if patch_size % s:
      raise ValueError(f"Example {_name(example)!r}: patch {patch_size} is not divisible by "
                       f"the scale {s}.")
    if abs(ih - h / s) >= 1 or abs(iw - w / s) >= 1:
      raise ValueError(f"Example {_name(example)!r}: input {ih}x{iw} and target {h}x{w} do not "
                       f"match scale {scale}.")
    # Positions on the input grid so that both crops stay inside their images.
    lp = patch_size // s
    y = int(rng.integers(0, min(ih, h // s) - lp + 1))
    x = int(rng.integers(0, min(iw, w // s) - lp + 1))
    out["input"] = inp[y:y + lp, x:x + lp]
    ty, tx = y * s, x * s
  else:
    ty = int(rng.integers(0, h - patch_size + 1))
    tx = int(rng.integers(0, w - patch_size + 1))
  for k in _TARGET_LIKE:
    if k in example:
      out[k] = example[k][ty:ty + patch_size, tx:tx + patch_size]
  return out


def center_crop(example: dict, size: int, scale: int = 1) -> dict:
  """Deterministic centre crop (eval): like `paired_random_crop` at the centre.

  Images smaller than `size` are left whole on that side.
  """
  out = dict(example)
  h, w = example["target"].shape[:2]
  inp = example.get("input")
  s = scale if inp is not None and inp.shape[:2] != (h, w) else 1
  ch, cw = min(size, h) // s * s, min(size, w) // s * s
  ty, tx = (h - ch) // 2 // s * s, (w - cw) // 2 // s * s
  for k in _TARGET_LIKE:
    if k in example:
      out[k] = example[k][ty:ty + ch, tx:tx + cw]
  if inp is not None:
    out["input"] = inp[ty // s:(ty + ch) // s, tx // s:(tx + cw) // s]
  return out


def flip_rot(image: np.ndarray, flip: bool, rot: int) -> np.ndarray:
  """Horizontal flip (optional) then `rot` × 90° counter-clockwise rotation of HWC."""
  if flip:
    image = image[:, ::-1]
  return np.ascontiguousarray(np.rot90(image, rot, axes=(0, 1)))


def paired_flip_rot(example: dict, rng: np.random.Generator | None = None,
                    hflip: bool = True, rotate: bool = True) -> dict:
  """The same random flip and 90° rotation (the 8 dihedral transforms) on all images."""
  rng = rng if rng is not None else np.random.default_rng()
  flip = bool(rng.integers(2)) if hflip else False
  rot = int(rng.integers(4)) if rotate else 0
  out = dict(example)
  for k in ("target", "input", "mask"):
    if k in example:
      out[k] = flip_rot(example[k], flip, rot)
  return out
