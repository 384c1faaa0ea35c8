"""Training parity with PyTorch (experiments/parity): our trainer's step against a KAIR-style
PyTorch loop from the same weights on the same batches, tiny shapes. Skipped without torch
(an optional benchmark dependency, the `bench` extra)."""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (optional: pip install 'enhance_jax[bench]'); "
    "the parity tests compare our trainer with a PyTorch loop")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from enhance_jax.config import load_config  # noqa: E402
from experiments.parity import parity  # noqa: E402


@pytest.fixture(autouse=True)
def _torch_settings():
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  torch.use_deterministic_algorithms(True)
  yield
  torch.use_deterministic_algorithms(False)
  torch.set_num_threads(threads)


def _images(n=4, size=48, seed=0):
  """Smooth random gray images in [0, 1] (no shared data needed)."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    coarse = rng.uniform(0.1, 0.9, (size // 8, size // 8, 1))
    out.append(np.kron(coarse, np.ones((8, 8, 1))).astype(np.float32))
  return out


def _tiny(name):
  """(config, 5 batches of 4, an eval image) of a tiny DnCNN (3 x 8, the shipped recipe's Adam and cosine
  rate, 16 px) or SRCNN (8-4 features, constant-rate Adam, 15 px crops of the x3 bicubic
  round trip): the runs both frameworks train here."""
  if name == "dncnn":
    config = load_config("dncnn_s25_train400", "profile=cpu,steps=5",
                         {"train.batch_size": 4, "data.degrade": "", "data.patch_size": 16,
                          "model.kwargs.depth": 3, "model.kwargs.features": 8})
    batches = parity.denoise_batches(_images(), 5, 4, 16, 25.0, seed=0)
    return config, batches, batches[0]["input"][0]
  config = load_config("pretrained/srcnn_955_x3", None,
                       {"init_checkpoint": "", "train.num_steps": 5, "train.batch_size": 4,
                        "data.degrade": "", "data.channels": 1, "data.scale": 1,
                        "data.patch_size": 15, "loss": "l2", "optimizer.learning_rate": 1e-3,
                        "optimizer.schedule": "constant", "optimizer.warmup_steps": 0,
                        "optimizer.grad_clip_norm": 0.0, "model.kwargs.features": (8, 4)})
  pairs = [parity.sr_pair(np.repeat(im, 3, axis=-1), 3) for im in _images()]
  return config, parity.sr_batches(pairs, 5, 4, 15, seed=0), pairs[0][0]


def _run(name, config, batches, eval_images):
  module = parity.torch_module(name, config, torch_seed=0)
  variables = parity.flax_from_torch(name, module)
  parity.check_flax_tree(config, variables)
  lrs = parity.learning_rates(config, len(batches))
  ours = parity.train_ours(config, variables, batches)
  ref = parity.train_torch(module, batches, lrs, config.optimizer.b1, config.optimizer.b2)
  out_ours = parity.apply_ours(config, ours["variables"], eval_images)
  out_torch = parity.apply_torch(module, eval_images)
  return ours, ref, out_ours, out_torch


def test_dncnn_losses_agree_per_step():
  """Tiny DnCNN (BN, no bias, residual), 5 steps of the shipped recipe's Adam and cosine rate:
  each step's loss within 1e-3 relative, the losses move (the test can fail), and the trained
  models agree in eval mode (BN running statistics: momentum 0.9 in Flax = 0.1 in PyTorch)."""
  config, batches, noisy = _tiny("dncnn")
  ours, ref, out_ours, out_torch = _run("dncnn", config, batches, [noisy])
  rel = parity.relative_diff(ours["loss"], ref["loss"])
  assert rel.max() < 1e-3, (ours["loss"], ref["loss"])
  assert abs(ref["loss"][-1] - ref["loss"][0]) > 1e-3 * ref["loss"][0]
  np.testing.assert_allclose(out_ours[0], out_torch[0], atol=1e-4)


def test_srcnn_losses_agree_per_step():
  """Tiny SRCNN (replicate padding, biases), 5 steps of constant-rate Adam."""
  config, batches, upsampled = _tiny("srcnn")
  ours, ref, out_ours, out_torch = _run("srcnn", config, batches, [upsampled])
  rel = parity.relative_diff(ours["loss"], ref["loss"])
  assert rel.max() < 1e-3, (ours["loss"], ref["loss"])
  assert abs(ref["loss"][-1] - ref["loss"][0]) > 1e-3 * ref["loss"][0]
  np.testing.assert_allclose(out_ours[0], out_torch[0], atol=1e-4)


def test_batches_are_reproducible_and_match_their_recipe():
  """Same seed, same arrays; the DnCNN noise has std σ/255; SR inputs are the bicubic
  round trip of their targets (close but not equal)."""
  a = parity.denoise_batches(_images(), 3, 4, 16, 25.0, seed=1)
  b = parity.denoise_batches(_images(), 3, 4, 16, 25.0, seed=1)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["input"], y["input"])
  noise = np.concatenate([x["input"] - x["target"] for x in a]).ravel()
  assert abs(noise.std() - 25 / 255) < 0.01
  up, y = parity.sr_pair(np.repeat(_images(1)[0], 3, axis=-1), 3)
  assert up.shape == y.shape and 0 < np.abs(up - y).mean() < 0.1


@pytest.mark.parametrize("name, spec, over", [
    ("dncnn", ("dncnn_s25_train400", "profile=cpu,steps=5"),
     {"model.kwargs.depth": 3, "model.kwargs.features": 8, "model.kwargs.init_gain": 0.0125}),
    ("srcnn", ("pretrained/srcnn_955_x3", None),
     {"init_checkpoint": "", "model.kwargs.features": (8, 4),
      "model.kwargs.kernel_init": "identity"}),
])
def test_flax_init_copied_into_torch(name, spec, over):
  """The zoo-init mode: our initial weights go into the PyTorch module (HWIO -> OIHW, DnCNN's BN
  after its conv; load_torch_from_flax raises unless the round trip is exact), and the module,
  whose own init gave another output, then computes ours."""
  from enhance_jax.training import components
  config = load_config(*spec, over)
  import jax
  variables = jax.tree.map(np.asarray, components.init_variables(config, components.model(config)))
  module = parity.torch_module(name, config, torch_seed=0)
  x = [_images(1, 24)[0]]
  ours = parity.apply_ours(config, variables, x)[0]
  assert not np.allclose(ours, parity.apply_torch(module, x)[0], atol=1e-3)  # PyTorch's own init
  parity.load_torch_from_flax(name, module, variables)
  np.testing.assert_allclose(ours, parity.apply_torch(module, x)[0], atol=1e-5)


@pytest.mark.parametrize("name", ["dncnn", "srcnn"])
def test_float64_trainers_agree_to_rounding(name):
  """--dtype=float64: both frameworks in float64 from the same (PyTorch's) weights, 5 steps:
  every step's loss within 1e-9 relative (float32 rounding alone moves DnCNN-S's curves 1e-2
  to 1e-1 within 10 steps), the output in float64 and the losses moving. Needs float64 kept
  through our model's output, the loss, Adam's bias corrections and the (im2col) convolution."""
  import jax
  config, batches, _ = _tiny(name)
  config.train.dtype = "float64"  # as run.py --dtype=float64 sets it (configs accept float32/bf16)
  batches = [{k: v.astype(np.float64) for k, v in b.items()} for b in batches]
  with jax.enable_x64(True):
    module = parity.torch_module(name, config, torch_seed=0).double()
    variables = jax.tree.map(lambda a: np.asarray(a, np.float64),
                             parity.flax_from_torch(name, module))
    ours = parity.train_ours(config, variables, batches)
    ref = parity.train_torch(module, batches, parity.learning_rates(config, 5),
                             config.optimizer.b1, config.optimizer.b2, dtype="float64")
    out = parity.apply_ours(config, ours["variables"], [batches[0]["input"][0]])[0]
  assert out.dtype == np.float64
  assert all(a.dtype == np.float64 for a in jax.tree.leaves(ours["variables"]))
  rel = parity.relative_diff(ours["loss"], ref["loss"])
  assert rel.max() < 1e-9, (ours["loss"], ref["loss"])
  assert abs(ref["loss"][-1] - ref["loss"][0]) > 1e-3 * ref["loss"][0]
