"""Official weight readers and importers, checked against independent numpy forward passes.

Needs the shared data (`enhance_jax.data.paths.shared_data_dir()`, weights in
its `weights/` folder); every test that reads it skips with a reason when absent.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.data import imageio
from enhance_jax.data.paths import shared_subdir
from enhance_jax.weights import importers, matconvnet, torch_pickle

WEIGHTS = shared_subdir("weights")
REPO = Path(__file__).resolve().parents[1]


def _need(*parts: str) -> Path:
  path = WEIGHTS.joinpath(*parts)
  if not path.exists():
    pytest.skip(f"shared data not found: {path} (set ENHANCE_JAX_DATA to the shared data folder)")
  return path


# ------------------------------------------------------------ numpy reference

def np_corr(x: np.ndarray, w_oihw: np.ndarray, b: np.ndarray | None,
            pad: str = "zero") -> np.ndarray:
  """Cross-correlation of HWC `x` with an OIHW kernel, 'same' size, explicit loop over taps."""
  cout, cin, kh, kw = w_oihw.shape
  h, w, _ = x.shape
  ph, pw = (kh - 1) // 2, (kw - 1) // 2
  xp = np.pad(x, ((ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)),
              mode="edge" if pad == "replicate" else "constant").astype(np.float64)
  out = np.zeros((h, w, cout))
  for dy in range(kh):
    for dx in range(kw):
      out += xp[dy:dy + h, dx:dx + w, :] @ w_oihw[:, :, dy, dx].T.astype(np.float64)
  return out + (0 if b is None else np.asarray(b, np.float64).ravel())


def _h5_convs(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
  """Raw MatConvNet conv weights as (OIHW, bias), read with h5py directly (MANIFEST layout)."""
  import h5py
  out = []
  with h5py.File(path, "r") as f:
    for ref in f["net"]["layers"][()].ravel():
      g = f[ref]
      if "".join(map(chr, g["type"][()].ravel())) != "conv":
        continue
      wref, bref = g["weights"][()].ravel()
      w = f[wref][()]
      if w.ndim == 3:
        w = w[None]
      out.append((w.transpose(0, 1, 3, 2), f[bref][()].ravel()))   # (Cout, Cin, W, H) -> OIHW
  return out


def _crop(folder: str, name: str, size: int, channels: int, at=(40, 60)) -> np.ndarray:
  d = shared_subdir(folder)
  if not d.is_dir():
    pytest.skip(f"shared data not found: {d}")
  img = imageio.to_float(imageio.read_image(d / name, channels=channels))
  return img[at[0]:at[0] + size, at[1]:at[1] + size]


def _apply(name: str, x: np.ndarray, **extra) -> np.ndarray:
  variables = importers.load(name, WEIGHTS)
  model = importers.build_model(name)
  return np.asarray(model.apply(variables, jnp.asarray(x[None], jnp.float32), **extra))[0]


def _noisy(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
  return (x + np.random.default_rng(seed).standard_normal(x.shape) * sigma / 255).astype(np.float32)


# ------------------------------------------------------------ torch reader

def test_kair_pth_equals_matconvnet_bit_exact():
  sd = torch_pickle.load_state_dict(_need("dncnn_kair", "dncnn_25.pth"))
  convs = matconvnet.conv_layers(_need("dncnn_matconvnet", "specifics", "sigma=25.mat"))
  assert len(convs) == 17 and sum(v.size for v in sd.values()) == 555_137
  for i, (kernel, bias) in enumerate(convs):
    np.testing.assert_array_equal(kernel, sd[f"model.{2 * i}.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(bias, sd[f"model.{2 * i}.bias"])


def _fake_torch(monkeypatch):
  """Registers stand-in `torch` modules so pickle can write torch globals by name."""
  torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

  class FloatStorage:
    pass

  def _rebuild_tensor_v2(*args):
    return args

  FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  torch_mod.FloatStorage, torch_mod._utils = FloatStorage, utils_mod
  utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
  monkeypatch.setitem(sys.modules, "torch", torch_mod)
  monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)
  return FloatStorage, _rebuild_tensor_v2


def test_zip_format_with_views_and_strides(tmp_path, monkeypatch):
  storage_type, rebuild = _fake_torch(monkeypatch)
  base = np.arange(24, dtype=np.float32)

  class Ref:
    def __init__(self, key, numel):
      self.key, self.numel = key, numel

  class Tensor:
    def __init__(self, ref, offset, size, stride):
      self.args = (ref, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
      return rebuild, self.args

  class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
      return ("storage", storage_type, obj.key, "cpu", obj.numel) if isinstance(obj, Ref) else None

  ref = Ref("0", 24)
  state = collections.OrderedDict(
      a=Tensor(ref, 0, (2, 3, 4), (12, 4, 1)),       # contiguous
      b=Tensor(ref, 0, (4, 3), (1, 4)),              # transposed view of the first 12
      c=Tensor(ref, 12, (6,), (2,)))                 # offset + stride
  buf = io.BytesIO()
  Pickler(buf, protocol=2).dump(state)
  path = tmp_path / "model.pth"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("model/data.pkl", buf.getvalue())
    zf.writestr("model/byteorder", "little")
    zf.writestr("model/data/0", base.tobytes())
    zf.writestr("model/version", "3\n")
  monkeypatch.undo()   # the reader must not need the stand-ins
  got = torch_pickle.load(path)
  np.testing.assert_array_equal(got["a"], base.reshape(2, 3, 4))
  np.testing.assert_array_equal(got["b"], base[:12].reshape(3, 4).T)
  np.testing.assert_array_equal(got["c"], base[12::2])


def test_refuses_arbitrary_globals(tmp_path):
  class Evil:
    def __reduce__(self):
      return os.system, ("echo pwned",)

  path = tmp_path / "evil.pth"
  with open(path, "wb") as f:
    for obj in (torch_pickle.LEGACY_MAGIC, torch_pickle.LEGACY_PROTOCOL, {"little_endian": True}):
      pickle.dump(obj, f, protocol=2)
    pickle.dump({"x": Evil()}, f, protocol=2)
  with pytest.raises(torch_pickle.TorchPickleError, match="refuses"):
    torch_pickle.load(path)
  (tmp_path / "junk.pth").write_bytes(b"not a pickle at all")
  with pytest.raises(torch_pickle.TorchPickleError, match="junk.pth"):
    torch_pickle.load(tmp_path / "junk.pth")


# ------------------------------------------------------------ importers

def test_every_importer_fits_its_model():
  _need()
  for name in importers.names():
    variables = importers.load(name, WEIGHTS)   # check_shapes inside
    assert variables["params"], name


def test_wrong_architecture_and_missing_file(tmp_path):
  blind = _need("dncnn_matconvnet", "GD_Gray_Blind.mat")   # 20 layers
  fake = tmp_path / "dncnn_matconvnet" / "specifics"
  fake.mkdir(parents=True)
  (fake / "sigma=25.mat").symlink_to(blind)
  with pytest.raises(ValueError, match=r"does not fit the model.*conv17.*unexpected"):
    importers.load("dncnn_s25", tmp_path)
  with pytest.raises(FileNotFoundError, match="sigma=15.mat not found"):
    importers.load("dncnn_s15", tmp_path)
  with pytest.raises(KeyError, match="Unknown pretrained model"):
    importers.load("dncnn_s99", tmp_path)


# ------------------------------------------------------------ numerics vs numpy

def test_dncnn_matconvnet_matches_numpy():
  convs = _h5_convs(_need("dncnn_matconvnet", "specifics", "sigma=25.mat"))
  x = _noisy(_crop("bsd68", "test001.png", 16, 1), 25)
  h = x
  for i, (w, b) in enumerate(convs):
    h = np_corr(h, w, b)
    if i < len(convs) - 1:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(_apply("dncnn_s25", x), x - h, atol=2e-4)


def test_cdncnn_matconvnet_matches_numpy():
  convs = _h5_convs(_need("dncnn_matconvnet", "GD_Color_Blind.mat"))
  x = _noisy(_crop("cbsd68", "101085.png", 12, 3), 25)
  h = x
  for i, (w, b) in enumerate(convs):
    h = np_corr(h, w, b)
    if i < len(convs) - 1:
      h = np.maximum(h, 0)
  np.testing.assert_allclose(_apply("cdncnn_b", x), x - h, atol=2e-4)


def test_dncnn_saoyan_bn_matches_numpy():
  sd = torch_pickle.load_state_dict(_need("dncnn_saoyan_pytorch", "DnCNN-S-25", "net.pth"))
  x = _noisy(_crop("bsd68", "test002.png", 16, 1), 25)
  idx = sorted({int(k.split(".")[1]) for k in sd})
  h = x
  for j in idx:
    p = f"dncnn.{j}."
    if sd[p + "weight"].ndim == 4:
      h = np_corr(h, sd[p + "weight"], None)
      if j == 0:
        h = np.maximum(h, 0)
    else:   # BN (eval mode, eps 1e-5) then ReLU
      h = (h - sd[p + "running_mean"]) / np.sqrt(sd[p + "running_var"].astype(np.float64) + 1e-5)
      h = np.maximum(h * sd[p + "weight"] + sd[p + "bias"], 0)
  np.testing.assert_allclose(_apply("dncnn_saoyan_s25", x), x - h, atol=2e-4)


def _subp_down(x: np.ndarray) -> np.ndarray:
  """vl_nnSubP(scale 0.5) transcribed with explicit loops (1-based a, b as in MATLAB)."""
  h, w, c = x.shape
  y = np.zeros((h // 2, w // 2, 4 * c))
  for ch in range(c):
    for i in range(1, 5):
      a, b = (i - 1) % 2 + 1, (i - 1) // 2 + 1
      y[:, :, 4 * ch + i - 1] = x[a - 1::2, b - 1::2, ch]
  return y


def _subp_up(y: np.ndarray) -> np.ndarray:
  h, w, c4 = y.shape
  x = np.zeros((2 * h, 2 * w, c4 // 4))
  for ch in range(c4 // 4):
    for i in range(1, 5):
      a, b = (i - 1) % 2 + 1, (i - 1) // 2 + 1
      x[a - 1::2, b - 1::2, ch] = y[:, :, 4 * ch + i - 1]
  return x


@pytest.mark.parametrize("name,folder,image,channels,size", [
    ("ffdnet_gray", "set12", "05.png", 1, 15),     # odd size: replicate last row/col
    ("ffdnet_color", "cbsd68", "101085.png", 3, 12),
])
def test_ffdnet_matches_numpy(name, folder, image, channels, size):
  convs = _h5_convs(_need("ffdnet_matconvnet", f"FFDNet_{name.split('_')[1]}.mat"))
  sigma = 30.0
  x = _noisy(_crop(folder, image, size, channels), sigma)
  xp = np.pad(x, ((0, size % 2), (0, size % 2), (0, 0)), mode="edge")
  h = _subp_down(xp)
  h = np.concatenate([h, np.full(h.shape[:2] + (1,), sigma / 255)], axis=-1)
  for i, (w, b) in enumerate(convs):
    h = np_corr(h, w, b)
    if i < len(convs) - 1:
      h = np.maximum(h, 0)
  ref = _subp_up(h)[:size, :size]
  np.testing.assert_allclose(_apply(name, x, noise_level=jnp.array([sigma / 255])), ref, atol=2e-4)


def test_srcnn_matches_numpy_matlab_reshape():
  import scipy.io
  m = scipy.io.loadmat(str(_need("srcnn_official", "9-5-5(ImageNet)", "x3.mat")))
  y = _crop("bsd68", "test003.png", 14, 1)
  # MATLAB: conv1 filter i = reshape(weights_conv1(:, i), 9, 9) (column-major), imfilter replicate.
  w1 = np.stack([m["weights_conv1"][:, i].reshape(9, 9, order="F") for i in range(64)])[:, None]
  w2 = np.stack([[m["weights_conv2"][j, :, i].reshape(5, 5, order="F") for j in range(64)]
                 for i in range(32)])
  w3 = np.stack([m["weights_conv3"][j, :].reshape(5, 5, order="F") for j in range(32)])[None]
  h = np.maximum(np_corr(y, w1, m["biases_conv1"], "replicate"), 0)
  h = np.maximum(np_corr(h, w2, m["biases_conv2"], "replicate"), 0)
  ref = np_corr(h, w3, m["biases_conv3"], "replicate")
  np.testing.assert_allclose(_apply("srcnn_955_x3", y), ref, atol=1e-4)


def test_zerodce_matches_numpy():
  sd = torch_pickle.load_state_dict(_need("zero_dce", "Epoch99.pth"))
  x = _crop("cbsd68", "101085.png", 10, 3) * 0.3

  def conv(h, n, relu=True):
    h = np_corr(h, sd[f"e_conv{n}.weight"], sd[f"e_conv{n}.bias"])
    return np.maximum(h, 0) if relu else h

  x1 = conv(x, 1)
  x2 = conv(x1, 2)
  x3 = conv(x2, 3)
  x4 = conv(x3, 4)
  x5 = conv(np.concatenate([x3, x4], -1), 5)
  x6 = conv(np.concatenate([x2, x5], -1), 6)
  r = np.tanh(conv(np.concatenate([x1, x6], -1), 7, relu=False))
  e = x.astype(np.float64)
  for k in range(8):
    e = e + r[..., 3 * k:3 * k + 3] * (e * e - e)
  np.testing.assert_allclose(_apply("zerodce", x), e, atol=2e-5)


# ------------------------------------------------------------ end to end

def test_dncnn_s25_psnr_on_bsd68_subset():
  """Full BSD68 with this code and numpy default_rng(0) noise: 29.231 dB (published 29.23).

  The three images below have full-set per-image PSNRs of 29.05 / 29.12 / 29.64
  (near the mean); their mean must be near 29.2.
  """
  _need("dncnn_matconvnet")
  variables = importers.load("dncnn_s25", WEIGHTS)
  model = importers.build_model("dncnn_s25")
  fn = jax.jit(lambda x: model.apply(variables, x))
  psnrs = []
  for i, name in enumerate(["test009.png", "test011.png", "test013.png"]):
    path = shared_subdir("bsd68") / name
    if not path.is_file():
      pytest.skip(f"shared data not found: {path}")
    clean = imageio.to_float(imageio.read_image(path, channels=1))
    out = np.asarray(fn(jnp.asarray(_noisy(clean, 25, seed=i)[None])))[0]
    out = np.round(np.clip(out, 0, 1) * 255) / 255   # published protocol: uint8 output
    psnrs.append(10 * np.log10(1 / np.mean((out - clean.astype(np.float64)) ** 2)))
  assert abs(np.mean(psnrs) - 29.2) < 0.3, psnrs


def test_srcnn_x3_butterfly_matches_official_demo():
  """Official SRCNN demo (console.txt): butterfly x3, 9-5-5: bicubic 24.04 dB, SRCNN 27.95 dB."""
  bicubic = pytest.importorskip("enhance_jax.data.bicubic", reason="MATLAB bicubic not available")
  from enhance_jax.models.sr import rgb_to_ycbcr
  _need("srcnn_official")
  path = shared_subdir("set5", "image_SRF_3", "img_003_SRF_3_HR.png")
  if not path.is_file():
    pytest.skip(f"shared data not found: {path}")
  hr = imageio.read_image(path, channels=3).astype(np.float64) / 255
  y = np.round(np.asarray(rgb_to_ycbcr(jnp.asarray(hr)))[..., :1] * 255) / 255   # uint8 Y
  up = bicubic.imresize_np(bicubic.imresize_np(y, 1 / 3), 3)
  out = _apply("srcnn_955_x3", up.astype(np.float32))

  def psnr(a):
    a = np.round(np.clip(a, 0, 1) * 255)[3:-3, 3:-3]
    return 10 * np.log10(255 ** 2 / np.mean((a - y[3:-3, 3:-3] * 255) ** 2))

  assert abs(psnr(up) - 24.04) < 0.02 and abs(psnr(out) - 27.95) < 0.02, (psnr(up), psnr(out))


def test_import_weights_cli(tmp_path):
  _need("zero_dce", "Epoch99.pth")
  from enhance_jax import import_weights
  from enhance_jax.weights.variables import load_variables
  import_weights.run(["zerodce"], WEIGHTS, tmp_path / "out")
  got = load_variables(tmp_path / "out" / "zerodce")
  want = importers.load("zerodce", WEIGHTS)
  jax.tree.map(np.testing.assert_array_equal, got, want)
  # Failure: one model's file is missing -> one-line error, exit 1, nothing written.
  src = tmp_path / "src" / "zero_dce"
  src.mkdir(parents=True)
  (src / "Epoch99.pth").symlink_to(WEIGHTS / "zero_dce" / "Epoch99.pth")
  env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
  proc = subprocess.run(
      [sys.executable, "-m", "enhance_jax.import_weights", "--model=zerodce,dncnn_s25",
       f"--source_dir={tmp_path / 'src'}", f"--output_dir={tmp_path / 'out2'}"],
      capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
  assert proc.returncode == 1, proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert proc.stderr.strip().splitlines()[-1] == errors[-1]
  assert len(errors) == 1 and "sigma=25.mat not found" in errors[0], proc.stderr
  assert not (tmp_path / "out2").exists()


def test_pretrained_configs_fit_imported_weights(monkeypatch):
  """Every shipped config pretrained/<name> builds the model that holds NAME's weights."""
  from enhance_jax import models
  from enhance_jax.config import load_config, shipped_configs
  from enhance_jax.weights.variables import check_shapes
  monkeypatch.setenv("ENHANCE_JAX_WEIGHTS", "/some/weights")
  names = [n.split("/", 1)[1] for n in shipped_configs() if n.startswith("pretrained/")]
  assert set(names) == set(importers.names())
  for name in names:
    c = load_config(f"pretrained/{name}")
    assert c.init_checkpoint == f"/some/weights/{name}"
    model = models.get(c.model.name, **dict(c.model.kwargs))
    x = jnp.zeros((1, 8, 8, c.data.channels))
    extra = {k: jnp.zeros((1,)) for k in models.extra_inputs(model)}
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x, **extra))
    want = importers.expected_variables(name)
    check_shapes(dict(want), dict(shapes), name)
    if c.data.name in ("bsd68", "cbsd68"):
      assert c.data.degrade.startswith("gaussian_noise(") and not c.eval.y_channel
      assert c.eval.crop_border == 0 and c.eval.round_uint8
    if c.model.name == "srcnn":
      scale = c.data.kwargs.scale
      assert c.eval.y_channel and c.eval.crop_border == scale
      assert c.data.degrade == f"bicubic_up(scale={scale})" and c.data.scale == scale
  c = load_config("pretrained/dncnn_b", "sigma=50,data=set12")
  assert c.data.name == "set12" and c.data.degrade == "gaussian_noise(sigma=50)"
