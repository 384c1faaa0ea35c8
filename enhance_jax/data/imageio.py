"""Image files <-> arrays, with one clear error per bad file.

Decoded images are uint8 (or uint16 for 16-bit files when asked) HWC numpy
arrays; float images elsewhere are HWC/NHWC float32 in [0, 1].
"""
from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from enhance_jax.data import color

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageReadError(ValueError):
  """A file that cannot be read as an image; the message names file and problem."""


def _pil_to_array(img: Image.Image, path: str, channels: int | None,
                  keep_16bit: bool) -> np.ndarray:
  """Converts any PIL mode to HWC uint8 (or uint16) with `channels` channels."""
  mode = img.mode
  if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
    arr = np.asarray(img).astype(np.float64)
    hi = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
    if keep_16bit:
      arr = np.round(arr / hi * 65535.0).astype(np.uint16)
    else:
      arr = np.round(arr / hi * 255.0).astype(np.uint8)
    arr = arr[..., None]
  elif mode == "F":
    arr = np.asarray(img, dtype=np.float64)
    arr = np.round(np.clip(arr, 0, 1) * 255.0).astype(np.uint8)[..., None]
  elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
    # Composite on black? No: drop alpha, keep the colour as stored (the usual
    # convention of restoration toolboxes).
    arr = np.asarray(img.convert("RGBA" if mode != "LA" else "LA"))[..., :-1]
  elif mode in ("L", "RGB"):
    arr = np.asarray(img)
    if arr.ndim == 2:
      arr = arr[..., None]
  elif mode == "1":
    arr = (np.asarray(img, dtype=np.uint8) * 255)[..., None]
  else:  # P, CMYK, YCbCr, LAB, HSV, ...
    arr = np.asarray(img.convert("RGB"))
  if arr.ndim == 2:
    arr = arr[..., None]
  if channels is not None:
    arr = convert_channels(arr, channels, path)
  return np.ascontiguousarray(arr)


def convert_channels(arr: np.ndarray, channels: int, path: str = "<array>") -> np.ndarray:
  """HWC gray <-> RGB conversion (BT.601 luma for RGB -> gray), same dtype."""
  c = arr.shape[-1]
  if c == channels:
    return arr
  if channels == 3 and c == 1:
    return np.repeat(arr, 3, axis=-1)
  if channels == 1 and c == 3:
    y = color.rgb_to_gray(arr.astype(np.float64))
    hi = np.iinfo(arr.dtype).max if arr.dtype.kind == "u" else 1.0
    return np.clip(np.round(y), 0, hi).astype(arr.dtype)
  raise ImageReadError(f"{path}: has {c} channels, cannot convert to {channels}.")


def read_image(path: str | os.PathLike, channels: int | None = None,
               keep_16bit: bool = False) -> np.ndarray:
  """Reads an image file as HWC uint8 (uint16 if `keep_16bit` and the file is 16-bit).

  Args:
    path: the file.
    channels: 1 or 3 to convert; None keeps gray as 1 and colour as 3 channels.
      Alpha is dropped; palettes are expanded; 16-bit is scaled to 8 bits.
    keep_16bit: return uint16 for 16-bit files instead of scaling to uint8.

  Raises:
    ImageReadError: missing, empty, truncated or undecodable file, with the path.
  """
  path = str(path)
  try:
    size = os.path.getsize(path)
  except OSError as e:
    raise ImageReadError(f"{path}: cannot open ({e.strerror or e}).") from None
  if size == 0:
    raise ImageReadError(f"{path}: file is empty (0 bytes).")
  with open(path, "rb") as f:
    data = f.read()
  return decode_image(data, path, channels=channels, keep_16bit=keep_16bit)


def decode_image(data: bytes, path: str = "<bytes>", channels: int | None = None,
                 keep_16bit: bool = False) -> np.ndarray:
  """Decodes encoded image bytes; see `read_image`. `path` is only for messages."""
  if not data:
    raise ImageReadError(f"{path}: file is empty (0 bytes).")
  ImageFile.LOAD_TRUNCATED_IMAGES = False
  try:
    with Image.open(io.BytesIO(data)) as img:
      deep_colour = keep_16bit and img.mode in ("RGB", "RGBA") and _is_16bit(img)
      img.load()
      if img.width == 0 or img.height == 0:
        raise ImageReadError(f"{path}: image has zero size {img.width}x{img.height}.")
      if deep_colour:  # Pillow decodes 16-bit RGB(A) PNG/TIFF to 8 bits
        arr = _decode_16bit_colour(data, path, img.size)
        return convert_channels(arr, channels, path) if channels is not None else arr
      return _pil_to_array(img, path, channels, keep_16bit)
  except ImageReadError:
    raise
  except UnidentifiedImageError:
    raise ImageReadError(f"{path}: not a recognised image format (corrupt or not an image).") from None
  except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
          struct.error, MemoryError, Image.DecompressionBombError) as e:
    msg = str(e) or type(e).__name__
    kind = "truncated" if "truncated" in msg.lower() else "corrupt"
    raise ImageReadError(f"{path}: {kind} image ({msg}).") from None


def _is_16bit(img: Image.Image) -> bool:
  """Whether an opened (not yet loaded) RGB/RGBA image stores 16 bits per sample."""
  for tile in img.tile or ():
    args = tile.args if hasattr(tile, "args") else tile[3]
    raw = args[0] if isinstance(args, tuple) else args
    if isinstance(raw, str) and ";16" in raw:
      return True
  return False


def _decode_16bit_colour(data: bytes, path: str, size: tuple[int, int]) -> np.ndarray:
  """A 16-bit RGB/RGBA PNG or TIFF as HWC uint16 RGB (alpha dropped), via OpenCV."""
  import cv2  # pylint: disable=g-import-not-at-top
  try:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
  except cv2.error:
    arr = None
  if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[1::-1] != tuple(size):
    raise ImageReadError(f"{path}: corrupt 16-bit colour image (OpenCV could not decode it).")
  return np.ascontiguousarray(arr[..., 2::-1])  # BGR(A) -> RGB


def to_float(arr: np.ndarray) -> np.ndarray:
  """uint8/uint16 HWC -> float32 in [0, 1]."""
  if arr.dtype == np.uint8:
    return arr.astype(np.float32) / 255.0
  if arr.dtype == np.uint16:
    return arr.astype(np.float32) / 65535.0
  return arr.astype(np.float32)


def to_uint8(x) -> np.ndarray:
  """Float image in [0, 1] -> uint8 with rounding (values are clipped first)."""
  x = np.asarray(x, dtype=np.float32)
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_image(path: str | os.PathLike, image, bits: int = 8) -> None:
  """Writes an HWC (C in {1, 3, 4}) float [0, 1] or uint image atomically.

  The file appears only when complete (written to a temporary name, then
  renamed). `bits=16` writes a 16-bit PNG or TIFF (gray, RGB or RGBA).
  """
  path = Path(path)
  arr = np.asarray(image)
  if arr.ndim == 3 and arr.shape[-1] == 1:
    arr = arr[..., 0]
  if arr.dtype.kind == "f":
    if bits == 16:
      arr = np.round(np.clip(arr, 0, 1) * 65535.0).astype(np.uint16)
    else:
      arr = to_uint8(arr)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  fmt = Image.registered_extensions().get(path.suffix.lower())
  if fmt is None:
    raise ImageReadError(f"{path}: unknown image extension {path.suffix!r}.")
  try:
    if arr.dtype == np.uint16 and arr.ndim == 3 and fmt == "TIFF":
      import tifffile  # pylint: disable=g-import-not-at-top
      tifffile.imwrite(tmp, arr, photometric="rgb")
    elif arr.dtype == np.uint16 and arr.ndim == 3:
      if fmt != "PNG":
        raise ValueError(f"{path}: 16-bit colour can be written only as .png or .tif.")
      _write_png16_color(tmp, arr)
    elif arr.dtype == np.uint16:
      Image.fromarray(arr).save(tmp, format=fmt)  # uint16 2-D -> mode I;16
    else:
      Image.fromarray(arr).save(tmp, format=fmt)
    os.replace(tmp, path)
  finally:
    if tmp.exists():
      tmp.unlink()


def _write_png16_color(path: Path, arr: np.ndarray) -> None:
  """Minimal 16-bit RGB/RGBA PNG writer (Pillow cannot write RGB;16)."""
  import zlib
  h, w, c = arr.shape
  raw = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

  def chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

  png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, 0))
  png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
  with open(path, "wb") as f:
    f.write(png)


def list_images(folder: str | os.PathLike) -> list[Path]:
  """Image files directly in `folder`, sorted by name; errors if none or missing."""
  folder = Path(folder)
  if not folder.is_dir():
    raise ImageReadError(f"{folder}: not a directory.")
  files = sorted(p for p in folder.iterdir()
                 if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
  if not files:
    raise ImageReadError(f"{folder}: contains no image files ({', '.join(IMAGE_EXTENSIONS)}).")
  return files
