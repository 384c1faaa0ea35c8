"""Reads `torch.save` files (legacy and zip formats) into numpy without importing torch.

Only plain containers of tensors are supported (state dicts, possibly nested in
dicts/lists): the unpickler resolves a short allow-list of globals
(`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
`torch._utils._rebuild_parameter`, `torch.*Storage`) and refuses everything
else, so loading never runs code named by the file.

Legacy format (torch < 1.6, `_use_new_zipfile_serialization=False`): five
consecutive pickles - magic number, protocol version, sys_info, the object
(storages as persistent ids), the list of storage keys - followed by the raw
storages, each an int64 element count and then the little-endian data.
Zip format: `<archive>/data.pkl` (storages as persistent ids) and one raw file
per storage, `<archive>/data/<key>`.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class TorchPickleError(ValueError):
  """A file that is not a readable torch.save state dict; the message names the file."""


def _storage_dtype(name: str) -> np.dtype:
  if name in _STORAGE_DTYPES:
    return np.dtype(_STORAGE_DTYPES[name])
  if name == "BFloat16Storage":
    import ml_dtypes  # pylint: disable=g-import-not-at-top  (ships with jax)
    return np.dtype(ml_dtypes.bfloat16)
  raise KeyError(name)


class _StorageType:
  """Stands in for a `torch.<X>Storage` class: only its dtype matters."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = _storage_dtype(name)


class _Storage:
  """A storage named in the pickle; `data` (1-D numpy) is filled in later."""

  def __init__(self, key: str, dtype: np.dtype, numel: int | None):
    self.key, self.dtype, self.numel = key, dtype, numel
    self.data: np.ndarray | None = None
    self.view: tuple[_Storage, int, int] | None = None  # (root, offset, size) for legacy views

  def array(self) -> np.ndarray:
    if self.view is not None:
      root, offset, size = self.view
      return root.array()[offset:offset + size]
    if self.data is None:
      raise TorchPickleError(f"storage {self.key!r} has no data")
    return self.data


class _LazyTensor:
  """Result of `_rebuild_tensor_v2` before the storages are read."""

  def __init__(self, storage: _Storage, offset: int, size, stride):
    self.storage, self.offset = storage, int(offset)
    self.size, self.stride = tuple(size), tuple(stride)

  def materialize(self) -> np.ndarray:
    flat = self.storage.array()
    if not self.size:
      return np.array(flat[self.offset])
    itemsize = flat.dtype.itemsize
    needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
    if min(self.size) > 0 and needed > flat.size:
      raise TorchPickleError(f"tensor of shape {self.size} overruns its storage "
                             f"({flat.size} elements)")
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride])
    return np.array(view)  # own, contiguous copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  del requires_grad, backward_hooks, metadata
  return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
  return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
  del requires_grad, backward_hooks, unused
  return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class _Unpickler(pickle.Unpickler):
  """Unpickler with an allow-list of globals and torch storage persistent ids."""

  def __init__(self, f, source: str, storages: dict[str, _Storage]):
    super().__init__(f, encoding="latin1")
    self.source = source
    self.storages = storages

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == "torch" and name.endswith("Storage"):
      try:
        return _StorageType(name)
      except KeyError:
        pass
    raise TorchPickleError(f"{self.source}: refuses to load global {module}.{name} "
                           "(only state dicts of tensors are supported)")

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
      raise TorchPickleError(f"{self.source}: unknown persistent id {pid!r}")
    storage_type, key = pid[1], str(pid[2])
    numel = pid[4] if len(pid) > 4 else None
    view_metadata = pid[5] if len(pid) > 5 else None
    if not isinstance(storage_type, _StorageType):
      raise TorchPickleError(f"{self.source}: storage {key!r} has unsupported type "
                             f"{storage_type!r}")
    if key not in self.storages:
      self.storages[key] = _Storage(key, storage_type.dtype, numel)
    root = self.storages[key]
    if view_metadata is None:
      return root
    view_key, offset, view_size = view_metadata
    view_key = str(view_key)
    if view_key not in self.storages:
      view = _Storage(view_key, root.dtype, view_size)
      view.view = (root, int(offset), int(view_size))
      self.storages[view_key] = view
    return self.storages[view_key]


def _materialize(obj: Any) -> Any:
  if isinstance(obj, _LazyTensor):
    return obj.materialize()
  if isinstance(obj, dict):
    out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
    for k, v in obj.items():
      out[k] = _materialize(v)
    return out
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialize(v) for v in obj)
  return obj


def _load_legacy(f, source: str) -> Any:
  magic = pickle.load(f)
  if magic != LEGACY_MAGIC:
    raise TorchPickleError(f"{source}: not a torch.save file (bad magic number)")
  protocol = pickle.load(f)
  if protocol != LEGACY_PROTOCOL:
    raise TorchPickleError(f"{source}: unsupported legacy protocol version {protocol}")
  sys_info = pickle.load(f)
  if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
    raise TorchPickleError(f"{source}: big-endian torch files are not supported")
  storages: dict[str, _Storage] = {}
  obj = _Unpickler(f, source, storages).load()
  keys = pickle.load(f)
  for key in keys:
    st = storages.get(str(key))
    if st is None:
      raise TorchPickleError(f"{source}: storage key {key!r} was never referenced")
    header = f.read(8)
    if len(header) != 8:
      raise TorchPickleError(f"{source}: truncated before storage {key!r}")
    (numel,) = struct.unpack("<q", header)
    nbytes = numel * st.dtype.itemsize
    raw = f.read(nbytes)
    if len(raw) != nbytes:
      raise TorchPickleError(f"{source}: truncated in storage {key!r} "
                             f"({len(raw)} of {nbytes} bytes)")
    st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<"), count=numel)
  return obj


def _load_zip(path: Path, source: str) -> Any:
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkl:
      raise TorchPickleError(f"{source}: zip file without data.pkl (not a torch.save file)")
    prefix = pkl[0][:-len("data.pkl")]
    byteorder = prefix + "byteorder"
    if byteorder in names and zf.read(byteorder).strip() != b"little":
      raise TorchPickleError(f"{source}: big-endian torch files are not supported")
    storages: dict[str, _Storage] = {}
    obj = _Unpickler(io.BytesIO(zf.read(pkl[0])), source, storages).load()
    for key, st in storages.items():
      if st.view is not None:
        continue
      member = f"{prefix}data/{key}"
      try:
        raw = zf.read(member)
      except KeyError:
        raise TorchPickleError(f"{source}: missing storage {member}") from None
      st.data = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<"))
  return obj


def load(path: str | os.PathLike) -> Any:
  """Loads a `torch.save` file; tensors become numpy arrays (their torch dtype).

  Returns the saved object (usually an OrderedDict name -> np.ndarray).
  Raises FileNotFoundError or TorchPickleError with the file name.
  """
  path = Path(path)
  source = str(path)
  if not path.is_file():
    raise FileNotFoundError(f"{source}: no such file")
  try:
    if zipfile.is_zipfile(path):
      obj = _load_zip(path, source)
    else:
      with open(path, "rb") as f:
        obj = _load_legacy(f, source)
    return _materialize(obj)
  except TorchPickleError:
    raise
  except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile,
          ValueError, TypeError, AttributeError, IndexError) as e:
    msg = " ".join(str(e).split())  # one line
    raise TorchPickleError(f"{source}: cannot read torch file ({type(e).__name__}: {msg})") from None


def load_state_dict(path: str | os.PathLike, strip_prefixes: tuple[str, ...] = ("module.",)
                    ) -> dict[str, np.ndarray]:
  """Loads a state dict (name -> array), unwrapping {'state_dict': ...} / {'model': ...}
  and stripping `DataParallel`'s 'module.' prefix."""
  obj = load(path)
  for wrapper in ("state_dict", "model", "params"):
    if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
      obj = obj[wrapper]
  if not isinstance(obj, dict):
    raise TorchPickleError(f"{path}: holds a {type(obj).__name__}, not a state dict")
  out = {}
  for k, v in obj.items():
    for p in strip_prefixes:
      if k.startswith(p):
        k = k[len(p):]
    out[k] = v
  return out
