"""curve_net (the default job's model): its guarantees on any weights, and the default config
training; on the real low-light photos of issue 15 (shared data; skipped when absent) its
worst case adds no clipped highlights."""
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax import api, models
from enhance_jax.models import curve_net

CURVES = ("rational", "gamma", "quadratic")


def _images(seed=0, n=2, h=12, w=10):
  """Random RGB in [0, 1] with black, gray, near-white and saturated pixels."""
  x = np.random.default_rng(seed).uniform(0, 1, (n, h, w, 3)).astype(np.float32) ** 2
  x[:, 0, 0] = 0.0                      # black
  x[:, 0, 1] = 0.3                      # gray
  x[:, 0, 2] = (0.99, 0.2, 0.0)         # near-white max channel, saturated
  x[:, 0, 3] = (1.0, 1.0, 1.0)          # white
  x[:, 0, 4] = (0.004, 0.0, 0.002)      # almost black
  return jnp.asarray(x)


def _random_variables(model, x, seed=0, scale=3.0):
  """Init, then kernels scaled up so the parameter maps vary widely over the image."""
  v = model.init(jax.random.key(seed), x)
  leaves, tree = jax.tree.flatten(v)
  keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
  leaves = [scale * jax.random.normal(k, a.shape) / np.sqrt(max(a[..., 0].size, 1))
            for k, a in zip(keys, leaves)]
  return jax.tree.unflatten(tree, leaves)


def _curve(name, v, params):
  if name == "rational":
    return curve_net.rational_curve(v, params)
  if name == "gamma":
    return curve_net.gamma_curve(v, params)
  return curve_net.quadratic_curve(v, params)


@pytest.mark.parametrize("name", CURVES)
@pytest.mark.parametrize("slope", [0.0, 0.25])
def test_output_range_max_channel_and_hue(name, slope):
  model = models.get("curve_net", features=4, depth=2, curve=name, highlight_slope=slope,
                     iterations=3)
  x = _images()
  variables = _random_variables(model, x)
  y, params = model.apply(variables, x, return_curves=True)
  y, params, xn = np.asarray(y), np.asarray(params), np.asarray(x)
  assert y.shape == x.shape and np.all(y >= 0) and np.all(y <= 1)
  assert params.shape == (*x.shape[:3], 3 if name == "quadratic" else 1)
  assert np.ptp(params) > 0.1  # the maps do vary: the checks below are not of a constant
  v = xn.max(-1, keepdims=True)
  f = np.asarray(_curve(name, jnp.asarray(v), jnp.asarray(params)))
  if slope:
    f = np.minimum(f, 1 - slope * (1 - v))
  np.testing.assert_allclose(y.max(-1, keepdims=True), np.clip(f, 0, 1), atol=2e-6)
  keep = v[..., 0] > 1e-3  # channel ratios (hue, saturation) unchanged
  np.testing.assert_allclose(y[keep] / y.max(-1)[keep][:, None], (xn / v)[keep], atol=1e-4)
  gray = np.ptp(xn, axis=-1) == 0
  assert np.all(np.ptp(y, axis=-1)[gray] <= 1e-6)  # gray stays gray: no colour cast
  if slope:  # the highlight cap: the distance to white shrinks at most 1/slope-fold
    assert np.all(1 - y.max(-1) >= slope * (1 - xn.max(-1)) - 1e-6)


def test_curves_are_monotone_with_fixed_ends():
  v = jnp.linspace(0, 1, 101)[:, None]
  for name, p in (("rational", jnp.full((101, 1), 30.0)), ("rational", jnp.full((101, 1), 0.1)),
                  ("gamma", jnp.full((101, 1), 0.3)), ("quadratic", jnp.full((101, 4), -1.0))):
    f = np.asarray(_curve(name, v, p))[:, 0]
    assert f[0] == 0 and abs(f[-1] - 1) < 1e-6 and np.all(np.diff(f) >= -1e-7), name


def test_gray_input_and_gradients():
  model = models.get("curve_net", features=4, depth=2)
  x = _images()[..., :1]
  variables = model.init(jax.random.key(0), x)
  assert model.apply(variables, x).shape == x.shape
  grads = jax.grad(lambda v: jnp.mean(model.apply(v, _images()) ** 2))(
      model.init(jax.random.key(0), _images()))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_bad_kwargs_are_refused():
  x = _images()
  for kw in (dict(curve="cubic"), dict(max_gain=0.5), dict(highlight_slope=2.0)):
    with pytest.raises(ValueError, match="curve_net"):
      models.get("curve_net", **kw).init(jax.random.key(0), x)


def test_default_config_trains_and_loss_goes_down(tmp_path):
  c = api.load_config("default", overrides={
      "data.patch_size": 32, "train.batch_size": 4, "train.num_steps": 40,
      "train.log_every": 4, "train.eval_every": 40, "train.checkpoint_every": 40,
      "data.eval_max_size": 48, "eval.grid_images": 1,
      "eval.use_ema": False})  # EMA 0.99 barely moves in 40 steps
  assert c.model.name == "curve_net"
  result = api.train(c, tmp_path / "w")
  losses = [r["loss"] for r in map(json.loads, (tmp_path / "w" / "metrics.jsonl").open())
            if r.get("split") == "train"]
  assert len(losses) == 10 and np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])
  ev = result["eval"] if "eval" in result else next(iter(result.values()))
  assert ev["psnr"] > ev["input_psnr"] + 1


def test_worst_case_adds_no_clipping_on_real_photos(shared_data):
  """Every pixel at the largest gain (what any trained weights can at most do): the mean
  over the 14 photos of issue 15 of the clipped-pixel share added is <= 2 %."""
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
  from experiments.benchmarks import default_lowlight as bench
  from enhance_jax.data import imageio
  c = api.load_config("default")
  model = models.get(c.model.name, **c.model.kwargs)
  fwd = jax.jit(model.apply)
  deltas = []
  for f in bench.photos(shared_data):
    img = imageio.read_image(f, 3)
    x = jnp.asarray(img, jnp.float32)[None] / 255
    v = model.init(jax.random.key(0), x[:, :8, :8])
    v = jax.tree.map(jnp.zeros_like, v)
    v["params"]["head"]["bias"] = jnp.full_like(v["params"]["head"]["bias"], 20.0)  # max gain
    y = imageio.to_uint8(np.asarray(fwd(v, x))[0])
    deltas.append(bench.clipped_share(y) - bench.clipped_share(img))
    assert bench.chroma_shift(y, img) < 0.01  # rounding only: no colour cast
  assert np.mean(deltas) <= 0.02
