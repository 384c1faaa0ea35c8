"""Readers for MATLAB weight files: MatConvNet v7.3 (HDF5) nets and SRCNN v5 .mat.

All conv kernels are returned in Flax layout HWIO (kernel rows, kernel cols,
in, out) as float32, biases as (out,). MatConvNet computes cross-correlation
like Flax, so no kernel flip is needed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class MatFileError(ValueError):
  """A .mat file that does not hold the expected network; the message names the file."""


def _chars(ds) -> str:
  return "".join(map(chr, np.asarray(ds[()]).ravel()))


def read_matconvnet(path: str | os.PathLike) -> list[dict]:
  """Reads `net.layers` of a MatConvNet v7.3 file (DnCNN, FFDNet).

  Returns one dict per layer in order: {'type': str, 'name': str} plus, for
  'conv' layers, 'kernel' (kh, kw, cin, cout) float32 HWIO and 'bias' (cout,);
  for 'SubP' layers 'scale' (0.5 = down-shuffle, 2 = up-shuffle).
  """
  import h5py  # pylint: disable=g-import-not-at-top
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such file")
  try:
    f = h5py.File(path, "r")
  except OSError as e:
    raise MatFileError(f"{path}: not a MATLAB v7.3 (HDF5) file ({e})") from None
  with f:
    try:
      refs = f["net"]["layers"][()].ravel()
    except KeyError:
      raise MatFileError(f"{path}: no net.layers (not a MatConvNet network)") from None
    layers = []
    for i, ref in enumerate(refs.tolist()):
      g = f[ref]
      layer = {"type": _chars(g["type"]) if "type" in g else "?",
               "name": _chars(g["name"]) if "name" in g else f"layer{i}"}
      if layer["type"] == "conv":
        w_refs = g["weights"][()].ravel()
        w = np.asarray(f[w_refs[0]][()], np.float32)
        b = np.asarray(f[w_refs[1]][()], np.float32).ravel()
        if w.ndim == 3:  # MATLAB dropped the trailing Cout=1: h5py shows (Cin, W, H)
          w = w[None]
        if w.ndim != 4:
          raise MatFileError(f"{path}: layer {i} ({layer['name']}) has kernel shape {w.shape}")
        # h5py (Cout, Cin, W, H) -> (H, W, Cin, Cout).
        layer["kernel"] = np.ascontiguousarray(w.transpose(3, 2, 1, 0))
        layer["bias"] = b
        if layer["kernel"].shape[-1] != b.shape[0]:
          raise MatFileError(f"{path}: layer {i} kernel {layer['kernel'].shape} "
                             f"does not match bias {b.shape}")
      if "scale" in g:
        layer["scale"] = float(np.asarray(g["scale"][()]).ravel()[0])
      layers.append(layer)
  return layers


def conv_layers(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
  """(kernel HWIO, bias) of every conv layer of a MatConvNet file, in order."""
  return [(l["kernel"], l["bias"]) for l in read_matconvnet(path) if l["type"] == "conv"]


def read_srcnn(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
  """Reads an official SRCNN test model (MATLAB v5 .mat) as 3 (kernel HWIO, bias).

  Stored: `weights_conv1` (k1*k1, 64); `weights_conv2` (64, k2*k2, 32);
  `weights_conv3` (32, k3*k3); kernels flattened column-major (MATLAB
  `reshape(w, k, k)`, first index = row) and applied with `imfilter`
  (correlation).
  """
  import scipy.io  # pylint: disable=g-import-not-at-top
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such file")
  try:
    m = scipy.io.loadmat(str(path))
  except Exception as e:  # noqa: BLE001  (scipy raises IndexError, MatReadError, ... on junk)
    raise MatFileError(f"{path}: cannot read as MATLAB v5 .mat "
                       f"({type(e).__name__}: {' '.join(str(e).split())})") from None
  need = [f"{p}_conv{i}" for i in (1, 2, 3) for p in ("weights", "biases")]
  missing = [k for k in need if k not in m]
  if missing:
    raise MatFileError(f"{path}: not an SRCNN model (missing {', '.join(missing)})")

  def unflatten(w2d: np.ndarray) -> np.ndarray:
    """(cin, k*k, cout), taps column-major (index = row + k*col) -> HWIO."""
    cin, kk, cout = w2d.shape
    k = int(round(np.sqrt(kk)))
    if k * k != kk:
      raise MatFileError(f"{path}: {kk} kernel taps is not a square")
    w = w2d.reshape(cin, k, k, cout)            # axes (cin, col, row, cout)
    return np.ascontiguousarray(w.transpose(2, 1, 0, 3)).astype(np.float32)  # (row, col, cin, cout)

  w1 = m["weights_conv1"][None]                 # (1, k1*k1, 64)
  w2 = m["weights_conv2"]                       # (64, k2*k2, 32)
  if w2.ndim == 2:                              # 1x1 kernel squeezed by MATLAB
    w2 = w2[:, None, :]
  w3 = m["weights_conv3"][..., None]            # (32, k3*k3, 1)
  out = []
  for w, b in ((w1, m["biases_conv1"]), (w2, m["biases_conv2"]), (w3, m["biases_conv3"])):
    out.append((unflatten(w), np.asarray(b, np.float32).ravel()))
  return out
