"""AlexNet feature extractor (torchvision `alexnet().features`) in Flax, for LPIPS.

Layers: conv1 (11x11, stride 4, pad 2, 64) relu1, maxpool 3/2, conv2 (5x5, pad 2,
192) relu2, maxpool 3/2, conv3 (3x3, 384) relu3, conv4 (3x3, 256) relu4, conv5
(3x3, 256) relu5. Features are returned by name (`conv{k}` before, `relu{k}`
after the ReLU); LPIPS-alex uses relu1..relu5. Inputs of at least 31x31.

Weight files: `.npz` with keys `conv1/kernel` (11, 11, 3, 64; HWIO) and
`conv1/bias`, ... `conv5/*` (see `vgg.save_npz`), or a torchvision state dict
`.pth` (keys `features.{0,3,6,8,10}.weight/bias`, OIHW) read without torch.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.metrics import vgg
from enhance_jax.models.convolution import Conv

# name -> (out channels, kernel, stride, padding, torchvision features index)
LAYERS = {
    "conv1": (64, 11, 4, 2, 0),
    "conv2": (192, 5, 1, 2, 3),
    "conv3": (384, 3, 1, 1, 6),
    "conv4": (256, 3, 1, 1, 8),
    "conv5": (256, 3, 1, 1, 10),
}
CHANNELS = tuple(v[0] for v in LAYERS.values())


class AlexNet(nn.Module):
  """AlexNet convolutional trunk; NHWC input normalised as the weights expect."""
  last: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    feats = {}
    for k, (name, (c, ks, s, p, _)) in enumerate(LAYERS.items(), start=1):
      if name in ("conv2", "conv3"):
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
      x = Conv(c, (ks, ks), strides=(s, s), padding=((p, p), (p, p)), name=name)(x)
      feats[name] = x
      x = nn.relu(x)
      feats[f"relu{k}"] = x
      if self.last in (name, f"relu{k}"):
        break
    return feats


def init_params(seed: int = 0) -> dict:
  """Random AlexNet params (He-normal kernels), for tests."""
  shapes = jax.eval_shape(lambda: AlexNet().init(jax.random.key(0), jnp.zeros((1, 64, 64, 3))))
  return vgg.random_like(shapes["params"], seed)


_FEATURE_KEY = re.compile(r"^(?:.*\.)?(?:features|slice\d)\.(\d+)\.(weight|bias)$")


def params_from_torch(state_dict: Mapping[str, np.ndarray], source: str = "state dict") -> dict:
  """torchvision AlexNet (or LPIPS `net.slice{j}.{k}.*`) state dict -> Flax params."""
  by_index: dict[int, dict[str, np.ndarray]] = {}
  for key, v in state_dict.items():
    m = _FEATURE_KEY.match(key)
    if m:
      by_index.setdefault(int(m.group(1)), {})[m.group(2)] = np.asarray(v)
  params = {}
  for name, (_, _, _, _, k) in LAYERS.items():
    if k not in by_index or {"weight", "bias"} - set(by_index[k]):
      raise ValueError(f"{source}: no weights for AlexNet {name} "
                       f"(expected keys features.{k}.weight/bias).")
    params[name] = vgg._torch_conv(by_index[k]["weight"], by_index[k]["bias"])
  check_params(params, source)
  return params


def check_params(params: Mapping, source: str) -> None:
  """Raises ValueError naming the first layer whose kernel shape is wrong."""
  c_in = 3
  for name, (c, ks, _, _, _) in LAYERS.items():
    if name not in params:
      raise ValueError(f"{source}: missing AlexNet layer {name} (keys like {name}/kernel).")
    got = tuple(np.shape(params[name]["kernel"]))
    if got != (ks, ks, c_in, c):
      raise ValueError(f"{source}: {name} kernel has shape {got}, expected {(ks, ks, c_in, c)}.")
    c_in = c


def load_params(path: str | os.PathLike) -> dict:
  """AlexNet params from an `.npz` or a torchvision `.pth` state dict."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such AlexNet weights file (.npz or torchvision .pth).")
  if path.suffix == ".npz":
    tree = vgg.load_npz(path)
    params = {n: {k: np.asarray(v, np.float32) for k, v in tree.get(n, {}).items()}
              for n in LAYERS if n in tree}
    check_params(params, str(path))
    return params
  from enhance_jax.weights import torch_pickle
  return params_from_torch(torch_pickle.load_state_dict(path), str(path))
