"""Classic restoration nets: DnCNN, FFDNet, SRCNN, sub-pixel SR, Zero-DCE (tiny shapes, CPU)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enhance_jax import models
from enhance_jax.models import ffdnet as ffdnet_lib
from enhance_jax.models import sr as sr_lib
from enhance_jax.models import zerodce as zerodce_lib


def _count(tree) -> int:
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _conv(k, cin, cout, bias=True) -> int:
  return k * k * cin * cout + (cout if bias else 0)


def _init_shapes(model, x, **extra):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), x, **extra))


# name, kwargs, input shape, extra inputs, expected output shape
CASES = [
    ("dncnn", dict(depth=5, features=8), (2, 7, 9, 1), {}, (2, 7, 9, 1)),
    ("dncnn", dict(depth=4, features=8, normalization="none", use_bias=True), (1, 5, 11, 3), {},
     (1, 5, 11, 3)),
    ("ffdnet", dict(depth=4, features=8), (2, 7, 9, 1), {"noise_level": jnp.array([0.1, 0.2])},
     (2, 7, 9, 1)),
    ("ffdnet", dict(depth=3, features=8), (1, 6, 5, 3), {"noise_level": jnp.array([0.05])},
     (1, 6, 5, 3)),
    ("srcnn", dict(features=(8, 4)), (1, 11, 13, 3), {}, (1, 11, 13, 3)),
    ("srcnn", dict(kernel_sizes=(9, 1, 5), features=(8, 4), padding="zero"), (2, 7, 9, 1), {},
     (2, 7, 9, 1)),
    ("subpixel_sr", dict(scale=3, features=8, num_blocks=2), (1, 5, 7, 3), {}, (1, 15, 21, 3)),
    ("subpixel_sr", dict(scale=2, features=8, num_blocks=0, activation="tanh"), (2, 5, 3, 1), {},
     (2, 10, 6, 1)),
    ("zerodce", dict(features=8), (1, 7, 9, 3), {}, (1, 7, 9, 3)),
    ("espcn", dict(scale=3), (1, 5, 7, 3), {}, (1, 15, 21, 3)),
    ("espcn", dict(scale=2, color="all"), (2, 5, 3, 1), {}, (2, 10, 6, 1)),
    ("srresnet", dict(scale=4, features=8, num_blocks=2), (1, 5, 6, 3), {}, (1, 20, 24, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape,extra,out_shape", CASES)
def test_shapes_jit_grad(name, kwargs, shape, extra, out_shape):
  model = models.get(name, **kwargs)
  x = jax.random.uniform(jax.random.key(1), shape)
  variables = model.init(jax.random.key(0), x, **extra)
  y = jax.jit(lambda v, x: model.apply(v, x, **extra))(variables, x)
  assert y.shape == out_shape and y.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(y)))

  def loss(params):
    out = model.apply({**variables, "params": params}, x, **extra)
    return jnp.mean(out ** 2)

  grads = jax.jit(jax.grad(loss))(variables["params"])
  norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
  assert all(np.isfinite(norms)) and sum(norms) > 0


def test_param_counts_match_papers():
  g = jnp.zeros((1, 8, 8, 1))
  c = jnp.zeros((1, 8, 8, 3))
  # DnCNN-S (paper): 17 convs without bias, BN (scale, bias) on the 15 middle layers.
  v = _init_shapes(models.get("dncnn"), g)
  expected = _conv(3, 1, 64, False) + 15 * _conv(3, 64, 64, False) + _conv(3, 64, 1, False)
  assert _count(v["params"]) == expected + 15 * 2 * 64 == 556_032
  assert _count(v["batch_stats"]) == 15 * 2 * 64  # SaoYan file: 557,952 elements in all
  # MatConvNet / KAIR DnCNN-S: BN folded into conv biases.
  v = _init_shapes(models.get("dncnn", normalization="none", use_bias=True), g)
  assert "batch_stats" not in v
  assert _count(v["params"]) == _conv(3, 1, 64) + 15 * _conv(3, 64, 64) + _conv(3, 64, 1) == 555_137
  v = _init_shapes(models.get("dncnn", depth=20, normalization="none", use_bias=True), c)
  assert _count(v["params"]) == _conv(3, 3, 64) + 18 * _conv(3, 64, 64) + _conv(3, 64, 3)
  # FFDNet gray 15 layers 5->64..64->4, color 12 layers 13->96..96->12.
  noise = {"noise_level": jnp.zeros((1,))}
  v = _init_shapes(models.get("ffdnet"), g, **noise)
  assert _count(v["params"]) == _conv(3, 5, 64) + 13 * _conv(3, 64, 64) + _conv(3, 64, 4) == 485_316
  v = _init_shapes(models.get("ffdnet"), c, **noise)
  assert (_count(v["params"]) == _conv(3, 13, 96) + 10 * _conv(3, 96, 96) + _conv(3, 96, 12)
          == 852_108)
  # SRCNN 9-5-5 on Y.
  v = _init_shapes(models.get("srcnn"), c)
  assert _count(v["params"]) == _conv(9, 1, 64) + _conv(5, 64, 32) + _conv(5, 32, 1) == 57_281
  # Zero-DCE (enhance_net_nopool).
  v = _init_shapes(models.get("zerodce"), c)
  assert _count(v["params"]) == (_conv(3, 3, 32) + 3 * _conv(3, 32, 32) + 2 * _conv(3, 64, 32)
                                 + _conv(3, 64, 24)) == 79_416


def _fit(model, x, target, steps=8, lr=3e-3, extra=None, mutable_bn=False):
  extra = extra or {}
  variables = model.init(jax.random.key(0), x, **extra)
  params = variables["params"]
  rest = {k: v for k, v in variables.items() if k != "params"}
  opt = optax.adam(lr)
  opt_state = opt.init(params)

  def loss_fn(params, rest):
    if mutable_bn:
      out, upd = model.apply({"params": params, **rest}, x, train=True,
                             mutable=["batch_stats"], **extra)
      return jnp.mean((out - target) ** 2), upd
    return jnp.mean((model.apply({"params": params, **rest}, x, **extra) - target) ** 2), rest

  @jax.jit
  def step(params, rest, opt_state):
    (loss, rest), g = jax.value_and_grad(loss_fn, has_aux=True)(params, rest)
    updates, opt_state = opt.update(g, opt_state, params)
    return optax.apply_updates(params, updates), rest, opt_state, loss

  losses = []
  for _ in range(steps):
    params, rest, opt_state, loss = step(params, rest, opt_state)
    losses.append(float(loss))
  return losses, rest


def test_dncnn_learns_and_updates_batch_stats():
  key1, key2 = jax.random.split(jax.random.key(3))
  clean = jax.random.uniform(key1, (4, 12, 12, 1))
  noisy = clean + 0.1 * jax.random.normal(key2, clean.shape)
  model = models.get("dncnn", depth=4, features=8)
  losses, rest = _fit(model, noisy, clean, mutable_bn=True)
  assert losses[-1] < losses[0]
  init_stats = model.init(jax.random.key(0), noisy)["batch_stats"]
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), rest["batch_stats"], init_stats)
  assert max(jax.tree.leaves(moved)) > 0


@pytest.mark.parametrize("name,kwargs,shape,extra,scale", [
    ("ffdnet", dict(depth=4, features=8), (2, 10, 10, 1), {"noise_level": jnp.array([0.1, 0.1])},
     1),
    ("srcnn", dict(features=(8, 4)), (2, 10, 10, 1), {}, 1),
    ("subpixel_sr", dict(scale=2, features=8, num_blocks=1), (2, 6, 6, 3), {}, 2),
    ("zerodce", dict(features=8), (2, 8, 8, 3), {}, 1),
    ("espcn", dict(scale=2, color="all"), (2, 6, 6, 3), {}, 2),
])
def test_adam_lowers_loss(name, kwargs, shape, extra, scale):
  k1, k2 = jax.random.split(jax.random.key(5))
  x = jax.random.uniform(k1, shape)
  n, h, w, c = shape
  target = jax.random.uniform(k2, (n, h * scale, w * scale, c))
  losses, _ = _fit(models.get(name, **kwargs), x, target, extra=extra)
  assert losses[-1] < losses[0], losses


def test_dncnn_residual_and_extra_inputs():
  model = models.get("dncnn", depth=3, features=4)
  x = jnp.full((1, 5, 5, 1), 0.5)
  v = model.init(jax.random.key(0), x)
  zeroed = jax.tree.map(jnp.zeros_like, v)
  np.testing.assert_allclose(model.apply(zeroed, x), x)  # net(x) = 0 -> output = input
  assert models.extra_inputs(model) == ()
  assert models.extra_inputs(models.get("ffdnet")) == ("noise_level",)


def test_ffdnet_matlab_subpixel_order():
  x = jnp.arange(2 * 4 * 6 * 2, dtype=jnp.float32).reshape(2, 4, 6, 2)
  sub = np.asarray(ffdnet_lib.matlab_unshuffle(x))
  xn = np.asarray(x)
  for c in range(2):
    for i in range(4):  # vl_nnSubP: sub-channel i takes offset (row i%2, col i//2)
      np.testing.assert_array_equal(sub[..., 4 * c + i], xn[:, i % 2::2, i // 2::2, c])
  np.testing.assert_array_equal(ffdnet_lib.matlab_shuffle(jnp.asarray(sub)), x)


def test_ffdnet_noise_map_and_odd_sizes():
  model = models.get("ffdnet", depth=3, features=4)
  x = jax.random.uniform(jax.random.key(0), (1, 7, 5, 1))
  v = model.init(jax.random.key(0), x, noise_level=jnp.array([0.1]))
  a = model.apply(v, x, noise_level=jnp.array([0.1]))
  b = model.apply(v, x, noise_level=0.1)  # scalar broadcasts
  c = model.apply(v, x, noise_level=jnp.array([0.3]))
  np.testing.assert_allclose(a, b)
  assert a.shape == x.shape and not np.allclose(a, c)
  # Odd sizes = replicate last row/col, run, crop.
  padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="edge")
  np.testing.assert_allclose(a, model.apply(v, padded, noise_level=0.1)[:, :7, :5], atol=1e-6)
  with pytest.raises(ValueError, match="noise_level"):
    model.apply(v, x)


def test_srcnn_y_path_and_replicate_padding():
  model = models.get("srcnn", features=(8, 4))
  rgb = jax.random.uniform(jax.random.key(0), (1, 9, 11, 3))
  v = model.init(jax.random.key(1), rgb)
  out = model.apply(v, rgb)
  ycc_in, ycc_out = sr_lib.rgb_to_ycbcr(rgb), sr_lib.rgb_to_ycbcr(out)
  np.testing.assert_allclose(ycc_out[..., 1:], ycc_in[..., 1:], atol=1e-5)  # chroma kept
  np.testing.assert_allclose(ycc_out[..., :1], model.apply(v, ycc_in[..., :1]), atol=1e-5)
  np.testing.assert_allclose(sr_lib.ycbcr_to_rgb(ycc_in), rgb, atol=1e-5)
  # MATLAB rgb2ycbcr: white -> Y 235, black -> Y 16.
  white = sr_lib.rgb_to_ycbcr(jnp.ones((1, 1, 1, 3)))
  np.testing.assert_allclose(white[..., 0] * 255, 235, atol=1e-3)
  # Replicate padding: a constant image stays constant everywhere (no zero-border effect).
  y = model.apply(v, jnp.full((1, 12, 12, 1), 0.4))
  np.testing.assert_allclose(y, y[0, 6, 6, 0] * jnp.ones_like(y), atol=1e-6)


@pytest.mark.parametrize("color,channels,padding", [("y", 3, "replicate"), ("all", 3, "replicate"),
                                                     ("y", 1, "zero")])
def test_srcnn_identity_init_starts_as_the_identity(color, channels, padding):
  """kernel_init='identity': the net returns its input at init (the deltas pass ReLU for inputs
  >= 0), the non-delta channels are random (not a zero net), and a training step moves it."""
  model = models.get("srcnn", features=(8, 4), color=color, padding=padding,
                     kernel_init="identity")
  x = jax.random.uniform(jax.random.key(0), (2, 12, 10, channels))
  v = model.init(jax.random.key(1), x)
  np.testing.assert_allclose(model.apply(v, x), x, atol=1e-5)
  k1, k3 = v["params"]["conv1"]["kernel"], v["params"]["conv3"]["kernel"]
  cy = 1 if color == "y" else channels
  assert float(jnp.std(k1[..., cy:])) > 0.01          # LeCun-normal beyond the delta channels
  assert float(jnp.abs(k3[:, :, cy:]).max()) == 0.0   # conv3 reads only the delta channels
  g = jax.grad(lambda p: jnp.mean((model.apply({"params": p}, x) - x ** 2) ** 2))(v["params"])
  assert float(jnp.abs(g["conv2"]["kernel"]).max()) > 0
  with pytest.raises(KeyError, match="initializer"):
    models.get("srcnn", kernel_init="nope").init(jax.random.key(0), x)


def test_zerodce_curves():
  model = models.get("zerodce", features=8)
  x = jax.random.uniform(jax.random.key(0), (1, 6, 7, 3))
  v = model.init(jax.random.key(0), x)
  out, curves = model.apply(v, x, return_curves=True)
  assert curves.shape == (1, 6, 7, 24) and float(jnp.abs(curves).max()) <= 1
  np.testing.assert_allclose(out, model.apply(v, x))
  np.testing.assert_allclose(out, zerodce_lib.apply_curves(x, curves), atol=1e-6)
  _, state = model.apply(v, x, mutable=["intermediates"])
  np.testing.assert_allclose(state["intermediates"]["curves"][0], curves)
  # Zero curves are the identity; r = 1 maps x -> x^2 for one step.
  np.testing.assert_allclose(zerodce_lib.apply_curves(x, jnp.zeros_like(curves)), x)
  np.testing.assert_allclose(zerodce_lib.apply_curves(x, jnp.ones((1, 6, 7, 3))), x ** 2, atol=1e-6)


def test_plain_cnn_first_layer_same_with_and_without_normalization():
  """conv0 is never normalised: it keeps its bias (and its init) with BN, so the
  BN ablation changes only the normalised layers; those drop their bias."""
  x = jax.random.uniform(jax.random.key(1), (2, 9, 7, 3))
  plain = models.get("cnn", features=8, depth=4)
  bn = models.get("cnn", features=8, depth=4, normalization="batch")
  vp, vb = plain.init(jax.random.key(0), x), bn.init(jax.random.key(0), x)
  for k in ("kernel", "bias"):
    np.testing.assert_array_equal(vp["params"]["conv0"][k], vb["params"]["conv0"][k])
  assert set(vb["params"]["conv1"]) == {"kernel"} and set(vb["params"]["conv2"]) == {"kernel"}
  assert set(vb["params"]["conv3"]) == {"kernel", "bias"}  # output conv, not normalised
  assert _count(vp["params"]) - _count(vb["params"]) == 2 * 8 - 2 * 2 * 8  # -biases +BN scale/bias


def test_espcn_and_srresnet_param_counts_match_papers():
  """Counted from the papers' layer lists. ESPCN (Shi et al. 2016): (f1, n1) =
  (5, 64), (f2, n2) = (3, 32), f3 = 3 to r^2 channels, on Y. SRResNet (Ledig et
  al. 2017, Fig. 4): k9n64 + PReLU, 16 x (k3n64-BN-PReLU-k3n64-BN), k3n64-BN,
  2 x (k3n256, shuffle x2, PReLU), k9n3; bias-free convs before BN,
  per-channel PReLU."""
  for r in (2, 3, 4):
    v = _init_shapes(models.get("espcn", scale=r), jnp.zeros((1, 8, 8, 3)))
    assert _count(v["params"]) == _conv(5, 1, 64) + _conv(3, 64, 32) + _conv(3, 32, r * r)
  assert [_conv(5, 1, 64) + _conv(3, 64, 32) + _conv(3, 32, r * r) for r in (2, 3, 4)] == [
      21_284, 22_729, 24_752]
  v = _init_shapes(models.get("srresnet"), jnp.zeros((1, 8, 8, 3)))
  bn, prelu = 2 * 64, 64
  block = 2 * _conv(3, 64, 64, False) + 2 * bn + prelu
  expected = (_conv(9, 3, 64) + prelu + 16 * block + _conv(3, 64, 64, False) + bn
              + 2 * (_conv(3, 64, 256) + prelu) + _conv(9, 64, 3))
  assert _count(v["params"]) == expected == 1_548_547
  assert _count(v["batch_stats"]) == 33 * 2 * 64
  p = v["params"]
  assert p["head"]["kernel"].shape == (9, 9, 3, 64) and p["tail"]["kernel"].shape == (9, 9, 64, 3)
  assert sum(k.startswith("block") for k in p) == 16
  assert p["up0"]["kernel"].shape == p["up1"]["kernel"].shape == (3, 3, 64, 256)


def test_espcn_layers_and_luma_path():
  """conv1 5x5 tanh, conv2 3x3 tanh, conv3 3x3 linear, shuffle (checked against
  a direct numpy/lax composition); with color='y' Cb/Cr are the MATLAB-bicubic
  upscaled input chroma and only Y comes from the net."""
  from enhance_jax.data import bicubic
  x = jax.random.uniform(jax.random.key(2), (1, 6, 7, 1))
  m = models.get("espcn", scale=2, color="all")
  v = m.init(jax.random.key(0), x)
  p = v["params"]

  def conv(h, layer):
    out = jax.lax.conv_general_dilated(h, p[layer]["kernel"], (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return out + p[layer]["bias"]

  h = conv(jnp.tanh(conv(jnp.tanh(conv(x, "conv1")), "conv2")), "conv3")  # (1, 6, 7, 4)
  want = h.reshape(1, 6, 7, 2, 2).transpose(0, 1, 3, 2, 4).reshape(1, 12, 14, 1)
  np.testing.assert_allclose(m.apply(v, x), want, atol=1e-5)

  rgb = jax.random.uniform(jax.random.key(3), (1, 6, 7, 3))
  my = models.get("espcn", scale=2)
  vy = my.init(jax.random.key(0), rgb)
  out = sr_lib.rgb_to_ycbcr(my.apply(vy, rgb))
  chroma = bicubic.imresize(sr_lib.rgb_to_ycbcr(rgb)[..., 1:], scale=2)
  np.testing.assert_allclose(out[..., 1:], chroma, atol=1e-5)
  y_only = my.apply(vy, sr_lib.rgb_to_ycbcr(rgb)[..., :1])
  np.testing.assert_allclose(out[..., :1], y_only, atol=1e-5)


def test_srresnet_learns_and_updates_batch_stats():
  k1, k2 = jax.random.split(jax.random.key(4))
  x = jax.random.uniform(k1, (2, 5, 5, 3))
  target = jax.random.uniform(k2, (2, 10, 10, 3))
  model = models.get("srresnet", scale=2, features=8, num_blocks=2)
  losses, rest = _fit(model, x, target, mutable_bn=True)
  assert losses[-1] < losses[0], losses
  init_stats = model.init(jax.random.key(0), x)["batch_stats"]
  moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), rest["batch_stats"], init_stats)
  assert max(jax.tree.leaves(moved)) > 0
  with pytest.raises(ValueError, match="power of two"):
    models.get("srresnet", scale=3).init(jax.random.key(0), x)


def test_kernel_initializers_have_their_scales():
  """layers.kernel_initializer: LeCun / He / PyTorch-uniform stds from fan_in = kh*kw*in, an
  orthogonal kernel's (kh*kw*in, out) matrix has orthonormal columns, and `gain` multiplies
  the very same draw."""
  from enhance_jax.models import layers
  key, shape = jax.random.key(1), (3, 3, 64, 64)
  fan_in = 3 * 3 * 64
  for name, std in (("lecun_normal", fan_in ** -0.5), ("he_normal", (2 / fan_in) ** 0.5),
                    ("torch", (3 * fan_in) ** -0.5)):
    w = np.asarray(layers.kernel_initializer(name)(key, shape))
    assert w.shape == shape and abs(w.std() / std - 1) < 0.05, name
  w = np.asarray(layers.kernel_initializer("torch")(key, shape))
  assert np.abs(w).max() <= fan_in ** -0.5
  q = np.asarray(layers.kernel_initializer("orthogonal")(key, shape)).reshape(fan_in, 64)
  np.testing.assert_allclose(q.T @ q, np.eye(64), atol=1e-5)
  for name in ("lecun_normal", "orthogonal"):
    np.testing.assert_allclose(layers.kernel_initializer(name, 0.2)(key, shape),
                               0.2 * layers.kernel_initializer(name)(key, shape), rtol=1e-6)
  with pytest.raises(KeyError, match="glorot"):
    layers.kernel_initializer("glorot")


def test_dncnn_init_options():
  """init_gain scales every conv kernel of the default init (BN untouched), and
  norm_scale_init='uniform' draws the BN scales in [0.1, 1). A small gain starts the
  network at the identity map: with Flax's default kernels the predicted noise x - out
  has a std near 1 (40 x the σ=25 noise), with gain 0.0125 under 1e-3 (BN's epsilon
  then dominates the tiny variances, so nothing is renormalised back up)."""
  x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 1))
  base = models.get("dncnn", depth=5, features=8).init(jax.random.key(3), x)
  small = models.get("dncnn", depth=5, features=8, init_gain=0.0125).init(jax.random.key(3), x)
  for name, layer in base["params"].items():
    if name.startswith("conv"):
      np.testing.assert_allclose(small["params"][name]["kernel"], 0.0125 * layer["kernel"],
                                 rtol=1e-6)
    else:
      np.testing.assert_array_equal(small["params"][name]["scale"], layer["scale"])
  m = models.get("dncnn", depth=5, features=8, norm_scale_init="uniform")
  scales = np.concatenate([v["scale"] for k, v in m.init(jax.random.key(3), x)["params"].items()
                           if not k.startswith("conv")])
  assert scales.min() >= 0.1 and scales.max() < 1.0 and scales.std() > 0.1
  out = lambda model, v: model.apply(v, x, train=True, mutable=["batch_stats"])[0]
  base_noise = float(jnp.std(x - out(models.get("dncnn", depth=5, features=8), base)))
  small_noise = float(jnp.std(x - out(models.get("dncnn", depth=5, features=8,
                                                 init_gain=0.0125), small)))
  assert base_noise > 0.3 and small_noise < 1e-3, (base_noise, small_noise)
