"""`enhance` follows the config (SR scale and input preparation, FFDNet's noise level), `--config`
in every entry point's --help, and test-time x8 self-ensemble."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from enhance_jax import config as config_lib
from enhance_jax import inference, models
from enhance_jax.training import components
from subprocess_env import run_entry_point




def _weights(tmp_path: Path, spec: str) -> str:
  """The imported weights of pretrained config `spec` when present (ENHANCE_JAX_WEIGHTS or
  ./weights), else its model's random initial variables saved under tmp_path."""
  from enhance_jax.weights import variables as variables_io
  config = config_lib.load_config(spec)
  if Path(config.init_checkpoint).is_dir():
    return str(Path(config.init_checkpoint).resolve())
  model = components.model(config)
  return str(variables_io.save_variables(tmp_path / "init",
                                         components.init_variables(config, model)))


def _image(path: Path, shape, mode=None) -> Path:
  Image.fromarray(np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8), mode).save(path)
  return path


def test_preparation_and_noise_level_from_config():
  sr = config_lib.load_config("pretrained/srcnn_955_x3")
  assert inference.config_preprocess(sr) == "bicubic_up(scale=3)"
  dn = config_lib.load_config("pretrained/ffdnet_gray")
  assert inference.config_preprocess(dn) == ""  # the noise is the user's, not added
  assert inference.config_noise_level(dn) == 25.0
  assert inference.config_noise_level(config_lib.load_config("pretrained/ffdnet_gray:50")) == 50.0
  blind = config_lib.load_config("pretrained/ffdnet_gray", overrides={
      "data.degrade": "gaussian_noise(sigma=(0, 50))"})
  assert inference.config_noise_level(blind) is None
  mixed = config_lib.load_config("default", overrides={
      "data.degrade": "bicubic_down(scale=2)|gaussian_noise(sigma=5, scale=1.0)|bicubic_up(scale=2)"
                      "|clip"})
  assert inference.config_preprocess(mixed) == "bicubic_up(scale=2)|clip()"
  assert inference.config_noise_level(mixed) == 5.0 * 255.0


def test_srcnn_x3_config_writes_3x(tmp_path):
  src = _image(tmp_path / "a.png", (20, 17, 3))
  weights = _weights(tmp_path, "pretrained/srcnn_955_x3")
  proc = run_entry_point("enhance", "--config=pretrained/srcnn_955_x3", f"--config.init_checkpoint={weights}",
              f"--input={src}", f"--output={tmp_path / 'b.png'}")
  assert "preprocess: bicubic_up(scale=3)" in proc.stdout
  assert "enhance: 1 images in " in proc.stderr  # not a terminal: the one summary line
  with Image.open(tmp_path / "b.png") as im:
    assert im.size == (51, 60) and im.mode == "RGB"


def test_ffdnet_enhance_needs_no_noise_level(tmp_path):
  src = _image(tmp_path / "g.png", (24, 20), "L")
  weights = _weights(tmp_path, "pretrained/ffdnet_gray")
  out = run_entry_point("enhance", "--config=pretrained/ffdnet_gray", f"--config.init_checkpoint={weights}",
             f"--input={src}", f"--output={tmp_path / 'o.png'}").stdout
  assert "noise level: sigma 25" in out
  with Image.open(tmp_path / "o.png") as im:
    assert im.size == (20, 24)
  out = run_entry_point("enhance", "--config=pretrained/ffdnet_gray", f"--config.init_checkpoint={weights}",
             "--noise_level=10", f"--input={src}", f"--output={tmp_path / 'o10.png'}").stdout
  assert "noise level: sigma 10" in out
  a, b = (np.asarray(Image.open(tmp_path / n), np.float32) for n in ("o.png", "o10.png"))
  assert np.abs(a - b).max() > 0  # the flag reaches the model


@pytest.mark.parametrize("module", ["train", "evaluate", "enhance", "import_weights", "info"])
def test_config_flag_in_help(module):
  out = run_entry_point(module, "--help", check=False).stdout  # absl's --help exits with status 1
  assert "--config:" in out, out[-2000:]


def _hand_x8(fn, x: np.ndarray) -> np.ndarray:
  """The mean of the 8 flip/rotation predictions, each mapped back, computed one by one in numpy."""
  outs = []
  for flip in (False, True):
    for k in range(4):
      t = np.rot90(x[:, :, ::-1] if flip else x, k, axes=(1, 2))
      y = np.rot90(np.asarray(fn(np.ascontiguousarray(t))), -k, axes=(1, 2))
      outs.append(y[:, :, ::-1] if flip else y)
  return np.mean(outs, axis=0)


@pytest.mark.parametrize("name,kwargs,shape,scale", [
    ("cnn", dict(features=8, depth=3, out_channels=3), (2, 12, 9, 3), 1),
    ("espcn", dict(scale=2, color="all"), (1, 7, 10, 3), 2),
    ("ffdnet", dict(depth=3, features=8), (2, 10, 8, 1), 1),
])
def test_self_ensemble_is_the_mean_of_8(name, kwargs, shape, scale):
  from enhance_jax import self_ensemble
  model = models.get(name, **kwargs)
  x = np.random.default_rng(0).random(shape, np.float32)
  extras = {"noise_level": jnp.full((shape[0],), 0.1)} if name == "ffdnet" else {}
  variables = model.init(jax.random.PRNGKey(1), x, **extras)
  apply = lambda v, **kw: model.apply(variables, v, train=False, **kw)  # noqa: E731
  got = jax.jit(lambda v: self_ensemble.x8(apply, v, **extras))(x)
  want = _hand_x8(lambda v: apply(v, **extras), x)
  assert got.shape == (shape[0], shape[1] * scale, shape[2] * scale, want.shape[-1])
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert np.abs(want - np.asarray(apply(x, **extras))).max() > 1e-4  # not the plain output


def test_enhancer_and_eval_step_self_ensemble():
  from enhance_jax.metrics import image_quality
  from enhance_jax.training import steps
  model = models.get("cnn", features=8, depth=3, out_channels=3)
  image = np.random.default_rng(0).random((14, 11, 3), np.float32)
  variables = model.init(jax.random.PRNGKey(0), image[None])
  want = np.clip(_hand_x8(lambda v: model.apply(variables, v, train=False), image[None]), 0, 1)[0]
  got = inference.Enhancer(model, variables, channels=3, tile=0, self_ensemble=True)(image)
  np.testing.assert_allclose(got, want, atol=1e-6)
  tiled = inference.Enhancer(model, variables, channels=3, tile=6, overlap=4, tile_batch=2,
                             self_ensemble=True)(image)
  np.testing.assert_allclose(tiled, want, atol=1e-5)  # radius 3 < overlap
  batch = {"input": image[None], "target": image[None]}
  _, pred, _ = jax.jit(lambda v, b, k: steps.eval_step(
      v, b, k, model=model, degrade=lambda b, k: b,
      protocol=image_quality.Protocol.from_config(config_lib.base_config().eval),
      self_ensemble=True))(variables, batch, jax.random.PRNGKey(0)[None])
  np.testing.assert_allclose(np.asarray(pred)[0], want, atol=1e-6)


def test_init_checkpoint_is_made_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  c = config_lib.load_config("default", overrides={"init_checkpoint": "w/dncnn"})
  assert c.init_checkpoint == str(tmp_path / "w" / "dncnn")
  monkeypatch.setenv("ENHANCE_JAX_WEIGHTS", "rel")
  assert config_lib.load_config("pretrained/dncnn_s25").init_checkpoint == str(
      tmp_path / "rel" / "dncnn_s25")
  assert config_lib.load_config("default").init_checkpoint == ""


def test_srcnn_x3_enhance_with_weights_imported_into_a_temp_dir(tmp_path, monkeypatch):
  """The README's commands: `import_weights --config=pretrained/srcnn_955_x3` into a temporary
  ENHANCE_JAX_WEIGHTS, then `enhance` on a Set5 LR image: 3x its size, and better than the
  bicubic upsampling it starts from (Y PSNR, 3 px shaved)."""
  from enhance_jax.data import bicubic, color
  from enhance_jax.data.paths import shared_subdir
  lr_path = shared_subdir("set5", "image_SRF_3", "img_002_SRF_3_LR.png")
  hr_path = lr_path.with_name("img_002_SRF_3_HR.png")
  official = shared_subdir("weights", "srcnn_official")
  for p in (lr_path, hr_path, official):
    if not p.exists():
      pytest.skip(f"shared data not found: {p} (set ENHANCE_JAX_DATA to the shared data folder)")
  monkeypatch.setenv("ENHANCE_JAX_WEIGHTS", str(tmp_path / "w"))
  run_entry_point("import_weights", "--config=pretrained/srcnn_955_x3")
  assert (tmp_path / "w" / "srcnn_955_x3").is_dir()
  run_entry_point("enhance", "--config=pretrained/srcnn_955_x3", f"--input={lr_path}",
                  f"--output={tmp_path / 'sr.png'}")
  lr, hr = (np.asarray(Image.open(p)) for p in (lr_path, hr_path))
  sr = np.asarray(Image.open(tmp_path / "sr.png"))
  assert sr.shape == (3 * lr.shape[0], 3 * lr.shape[1], 3) == hr.shape

  def y_psnr(x):
    y = lambda a: color.rgb_to_ycbcr(a.astype(np.float64) / 255)[3:-3, 3:-3, 0]
    return 10 * np.log10(1 / np.mean((y(x) - y(hr)) ** 2))

  up = np.clip(bicubic.imresize_np(lr.astype(np.float64), 3), 0, 255).round().astype(np.uint8)
  assert y_psnr(sr) > y_psnr(up) + 2.0, (y_psnr(sr), y_psnr(up))
