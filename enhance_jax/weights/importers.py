"""Official pretrained models -> our Flax variables ({'params': ..., 'batch_stats': ...}).

`PRETRAINED[name]` describes each importable model: the registered model name
and kwargs that hold it, the input channels, the file(s) under the weights
directory (`shared_data_dir()/weights` by default) and the reader. `load(name,
source_dir)` reads the files, maps them onto the Flax tree and checks every
shape against `model.init` (`variables.check_shapes`), so a wrong file fails
with a list of mismatched parameters.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.weights import matconvnet, torch_pickle
from enhance_jax.weights.variables import check_shapes


@dataclasses.dataclass(frozen=True)
class Pretrained:
  """One importable official model."""
  model: str                      # registered model name
  model_kwargs: dict              # constructor kwargs that fit the weights
  channels: int                   # image channels of the input
  files: tuple[str, ...]          # paths relative to the weights directory
  reader: Callable[[list[Path]], dict]  # files -> variables dict (numpy)
  description: str = ""

  @property
  def extra_inputs(self) -> dict:
    return {"noise_level": jnp.zeros((1,), jnp.float32)} if self.model == "ffdnet" else {}


def _conv(kernel: np.ndarray, bias: np.ndarray | None = None) -> dict:
  out = {"kernel": np.asarray(kernel, np.float32)}
  if bias is not None:
    out["bias"] = np.asarray(bias, np.float32).reshape(-1)
  return out


def _oihw_to_hwio(w: np.ndarray) -> np.ndarray:
  return np.ascontiguousarray(np.asarray(w).transpose(2, 3, 1, 0))


# ---------------------------------------------------------------- readers

def _read_matconvnet_stack(files: list[Path]) -> dict:
  """DnCNN / FFDNet MatConvNet file -> {'params': {'conv0': ..., 'convN': ...}}."""
  convs = matconvnet.conv_layers(files[0])
  return {"params": {f"conv{i}": _conv(k, b) for i, (k, b) in enumerate(convs)}}


def _read_srcnn(files: list[Path]) -> dict:
  convs = matconvnet.read_srcnn(files[0])
  return {"params": {f"conv{i + 1}": _conv(k, b) for i, (k, b) in enumerate(convs)}}


def _read_torch_sequential(files: list[Path]) -> dict:
  """A PyTorch nn.Sequential DnCNN (KAIR `model.N`, SaoYan `dncnn.N`): convs and BNs in order.

  Conv i -> params/conv{i}; the BN after conv i (i >= 1) -> params/BatchNorm_{i-1}
  (scale, bias) and batch_stats/BatchNorm_{i-1} (mean, var).
  """
  return sequential_variables(torch_pickle.load_state_dict(files[0]), str(files[0]))


def sequential_variables(sd: dict[str, np.ndarray], source: str = "state dict") -> dict:
  """The mapping of `_read_torch_sequential` on a state dict already in memory (numpy
  values, e.g. `{k: v.numpy() for k, v in module.state_dict().items()}` of a PyTorch DnCNN
  whose convs and BNs are numbered children of one nn.Sequential); `source` names it in errors."""
  modules: dict[int, dict[str, np.ndarray]] = {}
  for key, value in sd.items():
    m = re.fullmatch(r"(?:.*\.)?(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)",
                     key)
    if m is None:
      raise ValueError(f"{source}: unexpected state-dict key {key!r} for a sequential DnCNN.")
    modules.setdefault(int(m.group(1)), {})[m.group(2)] = value
  params, stats = {}, {}
  conv_i = 0
  for idx in sorted(modules):
    mod = modules[idx]
    if mod["weight"].ndim == 4:
      params[f"conv{conv_i}"] = _conv(_oihw_to_hwio(mod["weight"]), mod.get("bias"))
      conv_i += 1
    elif "running_mean" in mod:
      name = f"BatchNorm_{conv_i - 2}"
      params[name] = {"scale": mod["weight"].astype(np.float32),
                      "bias": mod["bias"].astype(np.float32)}
      stats[name] = {"mean": mod["running_mean"].astype(np.float32),
                     "var": mod["running_var"].astype(np.float32)}
    else:
      raise ValueError(f"{source}: module {idx} is neither a conv nor a BatchNorm.")
  out = {"params": params}
  if stats:
    out["batch_stats"] = stats
  return out


def _read_zerodce(files: list[Path]) -> dict:
  sd = torch_pickle.load_state_dict(files[0])
  params: dict[str, dict] = {}
  for key, value in sd.items():
    m = re.fullmatch(r"(e_conv\d+)\.(weight|bias)", key)
    if m is None:
      raise ValueError(f"{files[0]}: unexpected key {key!r} for Zero-DCE (enhance_net_nopool).")
    layer = params.setdefault(m.group(1), {})
    if m.group(2) == "weight":
      layer["kernel"] = _oihw_to_hwio(value).astype(np.float32)
    else:
      layer["bias"] = np.asarray(value, np.float32)
  return {"params": params}


# ---------------------------------------------------------------- catalogue

_DNCNN_FOLDED = dict(normalization="none", use_bias=True)
_DNCNN_BN = dict(normalization="batch", use_bias=False)

PRETRAINED: dict[str, Pretrained] = {}


def _add(name: str, **kw) -> None:
  kw["files"] = tuple(kw["files"])
  PRETRAINED[name] = Pretrained(**kw)


for _s in (15, 25, 50):
  _add(f"dncnn_s{_s}", model="dncnn", model_kwargs=dict(depth=17, **_DNCNN_FOLDED), channels=1,
       files=[f"dncnn_matconvnet/specifics/sigma={_s}.mat"], reader=_read_matconvnet_stack,
       description=f"DnCNN-S σ={_s}, official MatConvNet")
  _add(f"dncnn_saoyan_s{_s}", model="dncnn", model_kwargs=dict(depth=17, **_DNCNN_BN), channels=1,
       files=[f"dncnn_saoyan_pytorch/DnCNN-S-{_s}/net.pth"], reader=_read_torch_sequential,
       description=f"DnCNN-S σ={_s}, SaoYan PyTorch retrain (BN unfolded)")
_add("dncnn_b", model="dncnn", model_kwargs=dict(depth=20, **_DNCNN_FOLDED), channels=1,
     files=["dncnn_matconvnet/GD_Gray_Blind.mat"], reader=_read_matconvnet_stack,
     description="DnCNN-B blind gray, official MatConvNet")
_add("cdncnn_b", model="dncnn", model_kwargs=dict(depth=20, **_DNCNN_FOLDED), channels=3,
     files=["dncnn_matconvnet/GD_Color_Blind.mat"], reader=_read_matconvnet_stack,
     description="CDnCNN-B blind color, official MatConvNet")
_add("dncnn_3", model="dncnn", model_kwargs=dict(depth=20, **_DNCNN_FOLDED), channels=1,
     files=["dncnn_matconvnet/DnCNN3.mat"], reader=_read_matconvnet_stack,
     description="DnCNN-3 (denoise + SISR + JPEG), official MatConvNet")
_add("dncnn_saoyan_b", model="dncnn", model_kwargs=dict(depth=20, **_DNCNN_BN), channels=1,
     files=["dncnn_saoyan_pytorch/DnCNN-B/net.pth"], reader=_read_torch_sequential,
     description="DnCNN-B, SaoYan PyTorch retrain (BN unfolded)")
_add("dncnn_kair_s25", model="dncnn", model_kwargs=dict(depth=17, **_DNCNN_FOLDED), channels=1,
     files=["dncnn_kair/dncnn_25.pth"], reader=_read_torch_sequential,
     description="DnCNN-S σ=25, KAIR PyTorch (= sigma=25.mat)")
for _c, _tag in ((1, "gray"), (3, "color")):
  _add(f"ffdnet_{_tag}", model="ffdnet", model_kwargs={}, channels=_c,
       files=[f"ffdnet_matconvnet/FFDNet_{_tag}.mat"], reader=_read_matconvnet_stack,
       description=f"FFDNet {_tag}, official MatConvNet (AWGN, not clipped)")
  _add(f"ffdnet_clip_{_tag}", model="ffdnet", model_kwargs={}, channels=_c,
       files=[f"ffdnet_matconvnet/FFDNet_Clip_{_tag}.mat"], reader=_read_matconvnet_stack,
       description=f"FFDNet {_tag} for clipped noise, official MatConvNet")
for _k, _dir in (("955", "9-5-5(ImageNet)"), ("935", "9-3-5(ImageNet)"), ("915", "9-1-5(ImageNet)"),
                 ("915_91", "9-1-5(91 images)")):
  for _x in (2, 3, 4):
    if _k in ("935", "915") and _x != 3:
      continue
    _add(f"srcnn_{_k}_x{_x}", model="srcnn",
         model_kwargs=dict(kernel_sizes=(9, int(_k[1]), 5), padding="replicate", color="y"),
         channels=3, files=[f"srcnn_official/{_dir}/x{_x}.mat"], reader=_read_srcnn,
         description=f"SRCNN {_dir} x{_x}, official MATLAB test model")
_add("zerodce", model="zerodce", model_kwargs={}, channels=3,
     files=["zero_dce/Epoch99.pth"], reader=_read_zerodce,
     description="Zero-DCE, official PyTorch Epoch99.pth")


def names() -> list[str]:
  return sorted(PRETRAINED)


def build_model(name: str):
  """The Flax module that holds pretrained model `name`."""
  from enhance_jax import models  # pylint: disable=g-import-not-at-top  (registers all)
  spec = _spec(name)
  return models.get(spec.model, **spec.model_kwargs)


def _spec(name: str) -> Pretrained:
  try:
    return PRETRAINED[name]
  except KeyError:
    raise KeyError(f"Unknown pretrained model {name!r}; known: {', '.join(names())}.") from None


def expected_variables(name: str):
  """Shapes of `model.init` for model `name` (jax.ShapeDtypeStruct tree, nothing computed)."""
  spec = _spec(name)
  model = build_model(name)
  x = jnp.zeros((1, 8, 8, spec.channels), jnp.float32)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), x, **spec.extra_inputs))


def default_source_dir() -> Path:
  from enhance_jax.data.paths import shared_subdir  # pylint: disable=g-import-not-at-top
  return shared_subdir("weights")


def load(name: str, source_dir: str | os.PathLike | None = None) -> dict:
  """Reads pretrained model `name` from `source_dir` as a numpy variables dict.

  Raises FileNotFoundError (missing file) or ValueError (file does not fit the
  architecture, listing every mismatched parameter).
  """
  spec = _spec(name)
  source_dir = Path(source_dir) if source_dir is not None else default_source_dir()
  files = [source_dir / f for f in spec.files]
  for f in files:
    if not f.is_file():
      raise FileNotFoundError(f"{name}: weights file {f} not found (set --source_dir to the "
                              "folder holding the official weights).")
  variables = spec.reader(files)
  expected = expected_variables(name)
  expected = {k: v for k, v in expected.items() if k in ("params", "batch_stats")}
  check_shapes(expected, variables, f"{name} ({', '.join(map(str, files))})")
  return jax.tree.map(lambda a: np.asarray(a, np.float32), variables)
