"""Tests for the non-local, MIRNet, autoencoder, pix2pix and discriminator models.

Tiny shapes and widths throughout; the full-size MIRNet is only traced with
`jax.eval_shape` (no memory, no FLOPs).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enhance_jax.models import autoencoders, discriminators, mirnet, nonlocal_nets, pix2pix
from enhance_jax.models.registry import MODELS

H, W = 37, 29  # odd, not divisible by any power of two
KEY = jax.random.PRNGKey(0)


def n_params(variables) -> int:
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"]))


def init(model, *args):
  return jax.jit(model.init)(KEY, *args)


def apply(model, variables, *args, **kwargs):
  return jax.jit(functools.partial(model.apply, **kwargs))(variables, *args)


def shapes(model, *args, **kwargs):
  """Output shape of init + apply (eval and, if given, train mode) without compiling."""
  def run():
    variables = model.init(KEY, *args)
    return model.apply(variables, *args, **kwargs)
  return jax.eval_shape(run)


def perturb(variables, scale=0.1, seed=1):
  """Adds noise to every parameter (so zero-initialised W does something)."""
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(
      tree, [a + scale * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])


TINY = {
    "nonlocal_cnn": dict(features=8, depth=5, nl_window=8),
    "nlrn": dict(features=8, steps=2, inter_channels=4, window=8),
    "mirnet": dict(n_feat=4, n_rrg=1, n_mrb=1, height=3, width=2),
    "dae": dict(patch=5, features=(16, 8)),
    "pix2pix_unet": dict(features=(8, 16, 16), dilations=(2, 4)),
}
IN_OUT = {"pix2pix_unet": (1, 3)}


# --------------------------------------------------------------------------- registry and shapes
def test_registered():
  for name in ["nonlocal_cnn", "nlrn", "mirnet", "mirnet_small", "dae", "pix2pix_unet",
               "patchgan", "srgan_disc", "colorization_disc"]:
    assert name in MODELS, name


@pytest.mark.parametrize("name", sorted(TINY))
def test_generator_shapes_odd_size(name):
  # Shapes only (jax.eval_shape: no compilation); numerics are covered by the
  # training tests below, which also run on odd sizes.
  cin, cout = IN_OUT.get(name, (3, 3))
  model = MODELS.get(name, **TINY[name])
  x = jnp.zeros((2, H, W, cin))
  y = shapes(model, x)
  assert y.shape == (2, H, W, cout) and y.dtype == jnp.float32
  y, _ = shapes(model, x, train=True, rngs={"dropout": KEY}, mutable=["batch_stats"])
  assert y.shape == (2, H, W, cout)


def test_dae_variants_shapes():
  x = jnp.zeros((1, H, W, 1))
  for kw in [dict(mode="conv", features=(8, 16)), dict(patch=4, features=(8,)),
             dict(patch=5, features=(8, 4), out_channels=3)]:
    model = autoencoders.DenoisingAutoencoder(**kw)
    assert shapes(model, x).shape == (1, H, W, kw.get("out_channels", 1))


def test_dae_fold_is_exact_overlap_average():
  p, r0 = 5, 2
  x = jax.random.uniform(KEY, (1, 9, 7, 2))
  xp = jnp.pad(x, ((0, 0), (r0, r0), (r0, r0), (0, 0)), mode="reflect")
  patches = jnp.stack([jnp.stack([xp[:, a:a + 9, b:b + 7] for b in range(p)], 3)
                       for a in range(p)], 3).reshape(1, 9, 7, p * p * 2)
  folded = autoencoders.fold_patches(patches, p)[:, r0:r0 + 9, r0:r0 + 7]
  cov = autoencoders._coverage(9, p, r0)[:, None] * autoencoders._coverage(7, p, r0)[None]
  np.testing.assert_allclose(folded / cov[None, :, :, None], x, atol=1e-5)


def test_discriminator_shapes():
  x = jnp.zeros((2, H, W, 3))
  gray = x[..., :1]
  cases = [
      (discriminators.PatchGAN(features=8), (2, 2, 1, 1)),
      (discriminators.SRGANDiscriminator(features=4, dense=16), (2, 1, 1, 1)),
      (discriminators.ColorizationDiscriminator(features=(4, 8, 8, 8)), (2, 1, 1, 1)),
  ]
  for model, shape in cases:
    assert shapes(model, x, gray).shape == shape
    # Unconditional use needs its own parameters (fewer input channels).
    assert shapes(model, x).shape == shape


def test_patchgan_matches_pix2pix_reference_size():
  # The conditional 70x70 PatchGAN of pix2pix (6 input channels) has 2,768,705
  # parameters and a 30x30 logit map for 256x256 inputs.
  z = jnp.zeros((1, 256, 256, 3))
  shapes = jax.eval_shape(discriminators.PatchGAN().init, KEY, z, z)
  assert n_params(shapes) == 2_768_705
  out = jax.eval_shape(lambda v: discriminators.PatchGAN().apply(v, z, z), shapes)
  assert out.shape == (1, 30, 30, 1)


def test_srgan_discriminator_paper_head_size():
  """SRGAN's D (Ledig et al., Fig. 4) on 96x96 RGB: k3n64s1, k3n64s2, k3n128s1/s2,
  k3n256s1/s2, k3n512s1/s2 (BN after all but the first; bias-free before BN),
  dense 1024 on the flattened 6x6x512 map, dense 1."""
  z = jnp.zeros((1, 96, 96, 3))
  d = discriminators.SRGANDiscriminator(flatten=True)
  v = jax.eval_shape(d.init, KEY, z)
  widths = [3, 64, 64, 128, 128, 256, 256, 512, 512]
  convs = 9 * 3 * 64 + 64 + sum(9 * a * b + 2 * b for a, b in zip(widths[1:-1], widths[2:]))
  dense = 6 * 6 * 512 * 1024 + 1024 + 1024 + 1
  assert n_params(v) == convs + dense
  assert v["params"]["dense"]["kernel"].shape == (18_432, 1024)
  out = jax.eval_shape(lambda v: d.apply(v, z), v)
  assert out.shape == (1, 1, 1, 1)


# --------------------------------------------------------------------------- MIRNet size
def test_mirnet_small_is_tiny():
  shapes = jax.eval_shape(MODELS.get("mirnet_small").init, KEY, jnp.zeros((1, H, W, 3)))
  assert n_params(shapes) < 20_000


def test_mirnet_default_parameter_count():
  """Paper: 31.8M. Ours: 31,787,436 (the authors' code: 31,787,419; they share
  one PReLU across all DAUs, we give each DAU its own). Tolerance 0.1% of 31.8M."""
  shapes = jax.eval_shape(mirnet.MIRNet().init, KEY, jnp.zeros((1, 64, 64, 3)))
  n = n_params(shapes)
  assert n == 31_787_436
  assert abs(n - 31.8e6) / 31.8e6 < 1e-3


def test_mirnet_antialias_downsample_matches_stride2_blur():
  x = jax.random.uniform(KEY, (1, 7, 6, 2))
  y = mirnet.antialias_downsample(x)
  assert y.shape == (1, 4, 3, 2)
  k = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
  xp = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  ref = sum(k[i, j] * xp[:, i:i + 7:2, j:j + 6:2] for i in range(3) for j in range(3))
  np.testing.assert_allclose(y, ref, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (1, 1, 4, 2), (1, 16, 16, 8)])
def test_mirnet_bilinear_up2_matches_resize_and_its_gradient(shape):
  """The residual upsampler's bilinear x2 (half-pixel centres, clamped edges) equals
  jax.image.resize's bilinear in value and gradient, including 1-pixel sides."""
  x = jax.random.uniform(KEY, shape)
  n, h, w, c = shape
  ref = lambda x: jax.image.resize(x, (n, 2 * h, 2 * w, c), "bilinear")  # noqa: E731
  np.testing.assert_allclose(mirnet.bilinear_up2(x), ref(x), atol=1e-6)
  dy = jax.random.normal(jax.random.key(1), (n, 2 * h, 2 * w, c))
  g = lambda f: jax.grad(lambda x: jnp.sum(f(x) * dy))(x)  # noqa: E731
  np.testing.assert_allclose(g(mirnet.bilinear_up2), g(ref), atol=1e-5)


# --------------------------------------------------------------------------- NonLocalBlock
def test_nonlocal_identity_at_init():
  x = jax.random.normal(KEY, (2, 11, 9, 8))
  for kw in [{}, dict(window=4), dict(subsample=True), dict(use_output_proj=False)]:
    block = nonlocal_nets.NonLocalBlock(**kw)
    np.testing.assert_array_equal(apply(block, init(block, x), x), x)


@pytest.mark.parametrize("use_output_proj", [True, False])
def test_nonlocal_batchnorm_init_as_reference(use_output_proj):
  """With norm='batch' the branch's last linear map has its ordinary (non-zero)
  init and BN's scale starts at 0 (Wang et al.'s code): identity at init in
  train and eval mode, and one small SGD step moves the output only a little
  (a zero W before BN would be re-normalised to unit variance after a step)."""
  x = jax.random.normal(KEY, (2, 6, 5, 8))
  block = nonlocal_nets.NonLocalBlock(norm="batch", use_output_proj=use_output_proj)
  variables = init(block, x)
  last = "W" if use_output_proj else "g"
  assert float(jnp.abs(variables["params"][last]["kernel"]).max()) > 0.05
  np.testing.assert_array_equal(variables["params"]["BatchNorm_0"]["scale"], 0.0)
  np.testing.assert_array_equal(apply(block, variables, x), x)
  z, _ = apply(block, variables, x, train=True, mutable=["batch_stats"])
  np.testing.assert_array_equal(z, x)

  target = jax.random.normal(jax.random.PRNGKey(5), x.shape)

  def loss(params):
    z, _ = block.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
    return jnp.mean((z - target) ** 2)

  grads = jax.grad(loss)(variables["params"])
  assert float(jnp.abs(grads["BatchNorm_0"]["scale"]).max()) > 1e-4
  params = jax.tree.map(lambda p, g: p - 1e-3 * g, variables["params"], grads)
  z, _ = apply(block, {**variables, "params": params}, x, train=True, mutable=["batch_stats"])
  change = float(jnp.sqrt(jnp.mean((z - x) ** 2)))
  assert 0 < change < 1e-3


def test_nonlocal_permutation_equivariant():
  x = jax.random.normal(KEY, (1, 6, 5, 8))
  block = nonlocal_nets.NonLocalBlock()
  variables = perturb(init(block, x))
  perm = jax.random.permutation(jax.random.PRNGKey(3), 30)
  permute = lambda t: t.reshape(1, 30, -1)[:, perm].reshape(t.shape)
  y = apply(block, variables, x)
  assert float(jnp.abs(y - x).max()) > 1e-3  # not trivially the identity
  np.testing.assert_allclose(apply(block, variables, permute(x)), permute(y), atol=1e-5)


@pytest.mark.parametrize("subsample", [False, True])
def test_nonlocal_window_covering_image_equals_full(subsample):
  x = jax.random.normal(KEY, (2, H, W, 8))
  full = nonlocal_nets.NonLocalBlock(subsample=subsample)
  variables = perturb(init(full, x))
  y_full = apply(full, variables, x)
  y_win = apply(nonlocal_nets.NonLocalBlock(window=40, subsample=subsample), variables, x)
  np.testing.assert_allclose(y_win, y_full, atol=1e-5)


def test_nonlocal_windows_do_not_interact():
  x = jax.random.normal(KEY, (1, 16, 16, 4))
  block = nonlocal_nets.NonLocalBlock(window=8)
  variables = perturb(init(block, x))
  x2 = x.at[:, :8, :8].add(1.0)  # change only the top-left window
  d = jnp.abs(apply(block, variables, x2) - apply(block, variables, x))
  assert float(d[:, :8, :8].max()) > 1e-3
  assert float(d[:, 8:].max()) == 0.0 and float(d[:, :, 8:].max()) == 0.0


def test_nonlocal_correlation_propagation():
  x = jax.random.normal(KEY, (1, 10, 10, 4))
  block = nonlocal_nets.NonLocalBlock(window=5)
  variables = perturb(init(block, x))
  y0, corr = apply(block, variables, x, return_corr=True)
  assert corr.shape == (4, 25, 25)  # (B * windows, queries, keys)
  np.testing.assert_allclose(apply(block, variables, x, jnp.zeros_like(corr)), y0, atol=1e-6)
  y1, corr1 = apply(block, variables, x, corr, return_corr=True)
  np.testing.assert_allclose(corr1, 2 * corr, rtol=1e-5, atol=1e-5)
  assert float(jnp.abs(y1 - y0).max()) > 1e-4


def test_nlrn_shares_weights_across_steps():
  x = jnp.zeros((1, 8, 8, 1))
  n2 = n_params(jax.eval_shape(nonlocal_nets.NLRN(features=8, steps=2).init, KEY, x))
  n5 = n_params(jax.eval_shape(nonlocal_nets.NLRN(features=8, steps=5).init, KEY, x))
  assert n5 - n2 == 3 * 3 * 2 * 8  # only the per-step norms (3 BNs x scale, bias)


def test_nlrn_overlapping_patch_inference_averages_patches():
  """test_patch/test_stride (the authors' inference): the output is the average
  of the net's outputs on every overlapping patch (offsets every stride, the
  last flush with the border); a patch covering the image is the plain net."""
  x = jax.random.uniform(KEY, (2, 20, 17, 1))
  kw = dict(features=4, steps=1, inter_channels=2, window=None)
  whole = nonlocal_nets.NLRN(**kw)
  tiled = nonlocal_nets.NLRN(test_patch=9, test_stride=4, **kw)
  v = perturb(init(whole, x[:, :9, :9]), 0.1)
  got = np.asarray(apply(tiled, v, x))
  total, count = np.zeros(x.shape), np.zeros(x.shape)
  for i in (0, 4, 8, 11):
    for j in (0, 4, 8):
      total[:, i:i + 9, j:j + 9] += np.asarray(apply(whole, v, x[:, i:i + 9, j:j + 9]))
      count[:, i:i + 9, j:j + 9] += 1
  np.testing.assert_allclose(got, total / count, atol=1e-5)
  chunked = nonlocal_nets.NLRN(test_patch=9, test_stride=4, test_batch=5, **kw)  # 24 patches
  np.testing.assert_allclose(apply(chunked, v, x), got, atol=1e-5)
  small = x[:, :9, :9]
  np.testing.assert_allclose(apply(tiled, v, small), apply(whole, v, small), atol=1e-6)
  out_train, _ = apply(tiled, v, x, train=True, mutable=["batch_stats"])  # training: no tiling
  assert out_train.shape == x.shape


def _seam_score(y: np.ndarray, borders=(44, 89)) -> tuple[float, float]:
  """Mean |difference| between neighbouring columns (rows), averaged over 7-wide bands
  (one test stride, so the authors' 7-periodic patch-edge response averages out); the
  largest band centred on a former 45x45 tile border over the median band elsewhere
  (10 px from the image borders, 8 px from the tile borders). (horizontal, vertical)."""
  scores = []
  for d in (np.abs(np.diff(y, axis=1)).mean(0), np.abs(np.diff(y, axis=0)).mean(1)):
    band = np.convolve(d, np.ones(7) / 7, mode="valid")  # band[k] = mean d[k:k+7]
    centre = np.arange(len(band)) + 3
    far = ((centre >= 10) & (centre <= len(d) - 11)
           & np.all([np.abs(centre - b) > 7 for b in borders], axis=0))
    scores.append(float(band[[b - 3 for b in borders]].max() / np.median(band[far])))
  return scores[0], scores[1]


def test_nlrn_authors_scheme_has_no_tile_seams():
  """100x100 image: the authors' scheme (global attention inside overlapping 43x43 patches
  every 7 px, averaged) shows no step at the borders of the former 45x45 tiles, which our
  non-overlapping `window=45` variant does. Random init with the attention made to matter:
  g (zero at init) random, theta/phi as initialised. The input is a ramp (so neighbouring
  tiles differ) with a little smooth texture. Unclipped outputs: random weights push them
  out of [0, 1] and clipping would flatten regions. Measured (3 seeds): authors' scores
  1.4-1.7, window=45 15-27."""
  yy, xx = np.mgrid[0:100, 0:100] / 99.0
  rng = np.random.default_rng(0)
  f2 = np.fft.fftfreq(100)[:, None] ** 2 + np.fft.fftfreq(100)[None] ** 2
  blur = np.exp(-f2 * (2 * np.pi * 4) ** 2 / 2)  # Gaussian of sigma 4 px
  texture = np.fft.ifft2(np.fft.fft2(rng.normal(size=(100, 100))) * blur).real
  x = jnp.asarray(0.2 + 0.3 * (xx + yy) + 0.02 * texture / texture.std(),
                  jnp.float32)[None, :, :, None]
  kw = dict(features=8, steps=2, inter_channels=4, clip_output=False)
  authors = nonlocal_nets.NLRN(**kw)  # defaults: window=None, test_patch=43, test_stride=7
  tiles = nonlocal_nets.NLRN(window=45, test_patch=None, **kw)
  v = init(authors, x[:, :43, :43])
  v["params"]["nonlocal"]["g"]["kernel"] = jax.random.normal(
      jax.random.PRNGKey(2), v["params"]["nonlocal"]["g"]["kernel"].shape)
  assert authors.test_patch == 43 and authors.test_stride == 7 and authors.window is None
  ours = _seam_score(np.asarray(apply(authors, v, x))[0, :, :, 0])
  seamed = _seam_score(np.asarray(apply(tiles, v, x))[0, :, :, 0])
  assert max(ours) <= 2.0, ours
  assert min(seamed) >= 5.0, seamed


# --------------------------------------------------------------------------- training
def _fit(model, x, target, steps, lr=3e-3, loss="mse", cond=None):
  """Adam on one fixed batch; returns the losses (jit, grads through batch_stats)."""
  args = (x,) if cond is None else (x, cond)
  variables = init(model, *args)
  params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
  tx = optax.adam(lr)
  opt = tx.init(params)

  def loss_fn(params, state):
    out, new_state = model.apply({"params": params, **state}, *args, train=True,
                                 rngs={"dropout": KEY}, mutable=list(state))
    if loss == "mse":
      value = jnp.mean((out - target) ** 2)
    else:
      value = optax.sigmoid_binary_cross_entropy(out, jnp.broadcast_to(target, out.shape)).mean()
    return value, new_state

  @jax.jit
  def step(params, state, opt):
    (value, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), state, opt, value, grads

  losses = []
  for _ in range(steps):
    params, state, opt, value, grads = step(params, state, opt)
    losses.append(float(value))
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))
  return losses


def _denoise_batch(c=1, size=(15, 13)):
  clean = jax.random.uniform(KEY, (2, *size, c))
  noisy = jnp.clip(clean + 0.1 * jax.random.normal(jax.random.PRNGKey(1), clean.shape), 0, 1)
  return noisy, clean


@pytest.mark.parametrize("name, kwargs, c", [
    ("nlrn", dict(features=8, steps=2, inter_channels=4, window=6), 1),
    ("nonlocal_cnn", dict(features=8, depth=4, nl_window=6, nl_subsample=True), 1),
    ("mirnet", dict(n_feat=4, n_rrg=1, n_mrb=1, height=2, width=2), 3),
    ("dae", dict(patch=3, features=(8, 4)), 1),
])
def test_adam_lowers_loss(name, kwargs, c):
  noisy, clean = _denoise_batch(c)
  losses = _fit(MODELS.get(name, **kwargs), noisy, clean, steps=6)
  assert losses[-1] < losses[0], losses


def test_pix2pix_adam_lowers_loss():
  rgb = jax.random.uniform(KEY, (2, 19, 21, 3))
  gray = rgb.mean(-1, keepdims=True)
  model = pix2pix.Pix2PixUNet(features=(8, 16), dilations=(2,), dropout=0.5, n_dropout=1)
  losses = _fit(model, gray, rgb, steps=8)
  assert losses[-1] < losses[0], losses


def test_discriminator_adam_lowers_loss():
  real = jax.random.uniform(KEY, (4, 32, 32, 3))
  fake = jnp.full_like(real, 0.5) + 0.05 * jax.random.normal(jax.random.PRNGKey(2), real.shape)
  x = jnp.concatenate([real, fake])
  labels = jnp.array([1.0] * 4 + [0.0] * 4)[:, None, None, None]
  gray = x.mean(-1, keepdims=True)
  for model, cond in [(discriminators.PatchGAN(features=8, n_layers=2), None),
                      (discriminators.ColorizationDiscriminator(features=(4, 8, 8, 8)), gray)]:
    losses = _fit(model, x, labels, steps=8, loss="bce", cond=cond)
    assert losses[-1] < losses[0], losses


def test_nlrn_default_size_matches_authors_layout():
  """Convs of the authors' TF code: conv_in 1->128, theta/phi 128->64, g 128->128,
  conv_a/b 128->128 (3x3), conv_out 128->1, all with bias = 330,625; plus
  1 input BN (2) + 12 steps x 3 BNs x 256 + output BN 256 = 9,474 norm parameters."""
  shapes = jax.eval_shape(nonlocal_nets.NLRN().init, KEY, jnp.zeros((1, 45, 45, 1)))
  convs = (9 * 128 + 128) + 2 * (128 * 64 + 64) + (128 * 128 + 128) \
      + 2 * (9 * 128 * 128 + 128) + (9 * 128 + 1)
  assert convs == 330_625
  assert n_params(shapes) == convs + 2 + 12 * 3 * 256 + 256


@pytest.mark.parametrize("name", sorted(TINY) + ["patchgan"])
def test_bfloat16_compute_dtype_keeps_float32_output(name):
  # The trainer passes dtype=... when config.train.dtype is not float32.
  kwargs = dict(TINY.get(name, dict(features=8)), dtype=jnp.bfloat16)
  cin = IN_OUT.get(name, (3, 3))[0]
  y = shapes(MODELS.get(name, **kwargs), jnp.zeros((1, H, W, cin)))
  assert y.dtype == jnp.float32


def test_pix2pix_default_colorization_shapes():
  # The study: gray 120x120 -> RGB 120x120 (three stride-2 blocks: 120 -> 15).
  model = pix2pix.Pix2PixUNet()
  assert shapes(model, jnp.zeros((1, 120, 120, 1))).shape == (1, 120, 120, 3)
  gray, rgb = jnp.zeros((1, 120, 120, 1)), jnp.zeros((1, 120, 120, 3))
  assert shapes(discriminators.ColorizationDiscriminator(), rgb, gray).shape == (1, 1, 1, 1)
