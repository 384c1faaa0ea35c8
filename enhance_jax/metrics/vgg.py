"""VGG16/19 feature extractor (torchvision `vgg16().features` / `vgg19().features`)
in Flax, its weight files, and a VGG perceptual loss.

Features are returned by name: `conv{b}_{i}` (before ReLU) and `relu{b}_{i}`
(after), b = block 1..5, i = conv within the block; VGG16 has 2, 2, 3, 3, 3
convs per block (LPIPS uses relu1_2, relu2_2, relu3_3, relu4_3, relu5_3),
VGG19 2, 2, 4, 4, 4. Convs are 3x3, padding 1; blocks are separated by 2x2
max pooling (stride 2).

Weight files (user-provided; nothing is downloaded):
  * `.npz` with keys `conv1_1/kernel` (3, 3, C_in, C_out; HWIO, float32) and
    `conv1_1/bias` (C_out,), ... for every conv; written by `save_npz`.
  * a torchvision state dict `.pth` (`torchvision.models.vgg16(weights=...)
    .state_dict()`, keys `features.{k}.weight` OIHW / `features.{k}.bias`),
    read without torch by `enhance_jax.weights.torch_pickle`; classifier keys
    are ignored. `convert_torch_file(src, dst)` writes the `.npz`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.models.layers import max_pool
from enhance_jax.models.convolution import Conv

BLOCKS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def conv_names(depth: int = 16) -> list[str]:
  """Conv layer names in order: conv1_1, conv1_2, conv2_1, ..."""
  _check_depth(depth)
  return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS[depth]) for i in range(n)]


def torch_feature_indices(depth: int = 16) -> dict[str, int]:
  """Conv name -> index in torchvision's `features` Sequential (conv, relu, ..., pool)."""
  out, k = {}, 0
  for b, n in enumerate(BLOCKS[depth]):
    for i in range(n):
      out[f"conv{b + 1}_{i + 1}"] = k
      k += 2  # conv, relu
    k += 1  # max pool
  return out


def _check_depth(depth: int) -> None:
  if depth not in BLOCKS:
    raise ValueError(f"VGG depth must be 16 or 19, got {depth}.")


def imagenet_normalize(x: jax.Array) -> jax.Array:
  """NHWC RGB in [0, 1] -> (x - ImageNet mean) / ImageNet std (torchvision input)."""
  return (x - IMAGENET_MEAN) / IMAGENET_STD


class VGG(nn.Module):
  """VGG16/19 convolutional trunk; returns a dict name -> NHWC feature map.

  Input: NHWC RGB already normalised as the weights expect (see
  `imagenet_normalize`). `last` stops after that layer (saves compute).
  """
  depth: int = 16
  last: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    _check_depth(self.depth)
    feats = {}
    for b, n in enumerate(BLOCKS[self.depth]):
      if b > 0:
        x = max_pool(x, 2)
      for i in range(n):
        name = f"{b + 1}_{i + 1}"
        x = Conv(CHANNELS[b], (3, 3), padding=((1, 1), (1, 1)), name=f"conv{name}")(x)
        feats[f"conv{name}"] = x
        x = nn.relu(x)
        feats[f"relu{name}"] = x
        if self.last in (f"conv{name}", f"relu{name}"):
          return feats
    return feats


def random_like(shapes, seed: int = 0):
  """Random arrays for a pytree of shapes (e.g. from `jax.eval_shape(model.init)`):
  He-normal 'kernel's, ones for 'scale'/'var', zeros otherwise. numpy, float32;
  tests only (much faster on CPU than running Flax initialisers)."""
  rng = np.random.default_rng(seed)

  def draw(path, s):
    leaf = jax.tree_util.keystr(path)
    if leaf.endswith("['kernel']"):
      fan_in = int(np.prod(s.shape[:-1]))
      return (rng.standard_normal(s.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if leaf.endswith("['var']") or leaf.endswith("['scale']"):
      return np.ones(s.shape, np.float32)
    return (0.01 * rng.standard_normal(s.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def init_params(seed: int = 0, depth: int = 16) -> dict:
  """Random VGG params (He-normal kernels, small biases), for tests."""
  shapes = jax.eval_shape(lambda: VGG(depth).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  return random_like(shapes["params"], seed)


def features(params: Mapping, x: jax.Array, depth: int = 16, normalize: bool = True,
             last: str | None = None) -> dict[str, jax.Array]:
  """VGG features of NHWC RGB in [0, 1] (gray is repeated to RGB).

  With `normalize` the ImageNet mean/std of torchvision is applied first.
  """
  x = jnp.asarray(x)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if normalize:
    x = imagenet_normalize(x)
  return VGG(depth, last).apply({"params": params}, x)


# ------------------------------------------------------------- perceptual loss ----

def perceptual_loss(features_fn: Callable[[jax.Array], Mapping[str, jax.Array]],
                    x: jax.Array, y: jax.Array, layers: Sequence[str],
                    weights: Sequence[float] | None = None,
                    criterion: str = "l2") -> jax.Array:
  """sum_l weights[l] * mean(|f_l(x) - f_l(y)|^p) over batch, space and channels.

  Args:
    features_fn: images -> dict of feature maps (e.g. `make_features_fn`).
    x, y: NHWC images (x the prediction, y the target; `y` gets stop_gradient).
    layers: feature names, e.g. ("relu2_2",) or ("relu5_4",).
    weights: one per layer (default 1).
    criterion: 'l2' (mean squared error) or 'l1'.
  Returns: a scalar.
  """
  if weights is None:
    weights = (1.0,) * len(layers)
  if len(weights) != len(layers):
    raise ValueError(f"perceptual_loss: {len(layers)} layers but {len(weights)} weights.")
  fx = features_fn(x)
  fy = features_fn(jax.lax.stop_gradient(y))
  total = jnp.zeros((), jnp.float32)
  for name, w in zip(layers, weights):
    if name not in fx:
      raise KeyError(f"perceptual_loss: no feature {name!r}; have {sorted(fx)}.")
    d = fx[name] - fy[name]
    if criterion == "l2":
      total = total + w * jnp.mean(d * d)
    elif criterion == "l1":
      total = total + w * jnp.mean(jnp.abs(d))
    else:
      raise ValueError(f"perceptual_loss: criterion must be 'l1' or 'l2', got {criterion!r}.")
  return total


def make_features_fn(params: Mapping, depth: int = 16, last: str | None = None,
                     normalize: bool = True) -> Callable[[jax.Array], dict[str, jax.Array]]:
  """Closes over `params`: images in [0, 1] -> feature dict (stops after `last`)."""
  return lambda x: features(params, x, depth, normalize, last)


# ---------------------------------------------------------------- weight files ----

def tree_to_flat(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
  """Nested dict -> {'a/b/c': array}."""
  out = {}
  for k, v in tree.items():
    key = f"{prefix}{k}"
    if isinstance(v, Mapping):
      out.update(tree_to_flat(v, key + "/"))
    else:
      out[key] = np.asarray(v)
  return out


def flat_to_tree(flat: Mapping[str, np.ndarray]) -> dict:
  """{'a/b/c': array} -> nested dict."""
  tree: dict = {}
  for key, v in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = np.asarray(v)
  return tree


def save_npz(path: str | os.PathLike, tree: Mapping) -> Path:
  """Writes a nested dict of arrays as an `.npz` with '/'-joined keys."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez(path, **tree_to_flat(tree))
  return path


def load_npz(path: str | os.PathLike) -> dict:
  """Reads an `.npz` written by `save_npz` back into a nested dict."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such weights file.")
  with np.load(path) as z:
    return flat_to_tree({k: z[k] for k in z.files})


def _torch_conv(w: np.ndarray, b: np.ndarray) -> dict:
  return {"kernel": np.ascontiguousarray(np.transpose(np.asarray(w, np.float32), (2, 3, 1, 0))),
          "bias": np.asarray(b, np.float32)}


_FEATURE_KEY = re.compile(r"^(?:.*\.)?(?:features|slice\d)\.(\d+)\.(weight|bias)$")


def params_from_torch(state_dict: Mapping[str, np.ndarray], depth: int = 16,
                      source: str = "state dict", required: Sequence[str] | None = None) -> dict:
  """torchvision VGG state dict (OIHW) -> Flax params {'conv1_1': {kernel, bias}, ...}.

  Accepts `features.{k}.weight` (torchvision) and LPIPS's `net.slice{j}.{k}.weight`
  (the same k). Convs missing from the dict raise unless not in `required`
  (default: all convs of the depth).
  """
  by_index: dict[int, dict[str, np.ndarray]] = {}
  for key, v in state_dict.items():
    m = _FEATURE_KEY.match(key)
    if m:
      by_index.setdefault(int(m.group(1)), {})[m.group(2)] = np.asarray(v)
  index = torch_feature_indices(depth)
  required = list(index) if required is None else list(required)
  params = {}
  for name, k in index.items():
    if k in by_index and {"weight", "bias"} <= set(by_index[k]):
      params[name] = _torch_conv(by_index[k]["weight"], by_index[k]["bias"])
    elif name in required:
      raise ValueError(f"{source}: no weights for VGG{depth} {name} "
                       f"(expected keys features.{k}.weight/bias).")
  _check_params(params, depth, source)
  return params


def _check_params(params: Mapping, depth: int, source: str) -> None:
  c_in = 3
  for name in conv_names(depth):
    b = int(name[4]) - 1
    if name not in params:
      continue
    want = (3, 3, c_in, CHANNELS[b])
    got = tuple(np.shape(params[name]["kernel"]))
    if got != want:
      raise ValueError(f"{source}: {name} kernel has shape {got}, expected {want} (VGG{depth}).")
    c_in = CHANNELS[b]


def load_params(path: str | os.PathLike, depth: int = 16) -> dict:
  """VGG params from an `.npz` (see module doc) or a torchvision `.pth` state dict."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such VGG{depth} weights file (.npz or torchvision .pth).")
  if path.suffix == ".npz":
    params = load_npz(path)
    missing = [n for n in conv_names(depth) if n not in params]
    if missing:
      raise ValueError(f"{path}: missing VGG{depth} layers {missing} (keys like conv1_1/kernel).")
    params = {n: {k: np.asarray(v, np.float32) for k, v in params[n].items()}
              for n in conv_names(depth)}
    _check_params(params, depth, str(path))
    return params
  from enhance_jax.weights import torch_pickle
  return params_from_torch(torch_pickle.load_state_dict(path), depth, str(path))


def convert_torch_file(src: str | os.PathLike, dst: str | os.PathLike, depth: int = 16) -> Path:
  """torchvision VGG `.pth` -> our `.npz` (no torch needed)."""
  return save_npz(dst, load_params(src, depth))
