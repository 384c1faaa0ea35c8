"""models.batch_norm: Flax's BatchNorm variables and results, a closed-form gradient."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.models import batch_norm, layers


def _reference(x, scale, bias, epsilon=1e-5, relu=False):
  """Training-mode batch norm as plain jnp, differentiated by JAX (fast variance)."""
  axes = tuple(range(x.ndim - 1))
  mean = jnp.mean(x, axes)
  var = jnp.maximum(0.0, jnp.mean(jnp.square(x), axes) - jnp.square(mean))
  y = (x - mean) * (jax.lax.rsqrt(var + epsilon) * scale) + bias
  return (jnp.maximum(y, 0) if relu else y), mean, var


def _data(dtype=np.float32, shape=(3, 5, 6, 8)):
  rng = np.random.default_rng(0)
  x = (1.5 * rng.standard_normal(shape) + 0.7).astype(dtype)
  scale = rng.uniform(0.5, 1.5, shape[-1]).astype(dtype)
  bias = rng.standard_normal(shape[-1]).astype(dtype)
  return x, scale, bias


class _FlaxPair(nn.Module):
  """Two Flax BatchNorms (auto-named BatchNorm_0/1), the second followed by a ReLU."""
  train: bool

  @nn.compact
  def __call__(self, x):
    kw = dict(use_running_average=not self.train, momentum=0.9, epsilon=1e-5,
              scale_init=layers.SCALE_INITS["uniform"])
    return nn.relu(nn.BatchNorm(**kw)(nn.BatchNorm(**kw)(x) * 2.0))


class _OursPair(nn.Module):
  train: bool

  @nn.compact
  def __call__(self, x):
    norm = lambda **kw: layers.normalization("batch", self.train, scale_init="uniform", **kw)
    return norm(activation="relu")(norm()(x) * 2.0)


def test_variables_outputs_and_running_stats_equal_flax():
  x, _, _ = _data()
  flax_vars = _FlaxPair(train=True).init(jax.random.key(3), x)
  ours_vars = _OursPair(train=True).init(jax.random.key(3), x)
  jax.tree.map(np.testing.assert_array_equal, ours_vars, flax_vars)  # names, shapes, values
  for train in (True, False):
    y_f, s_f = _FlaxPair(train).apply(flax_vars, x, mutable=["batch_stats"])
    y_o, s_o = _OursPair(train).apply(ours_vars, x, mutable=["batch_stats"])
    np.testing.assert_allclose(y_o, y_f, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), s_o, s_f)
    if train:  # the running statistics moved (BatchNorm_1, the inner one, sees x: mean 0.7)
      assert float(jnp.abs(s_o["batch_stats"]["BatchNorm_1"]["mean"]).max()) > 1e-2


@pytest.mark.parametrize("relu", [False, True])
def test_gradient_equals_autodiff_including_the_statistics(relu):
  x, scale, bias = _data()
  rng = np.random.default_rng(1)
  dy = rng.standard_normal(x.shape).astype(np.float32)
  cm, cv = rng.standard_normal((2, x.shape[-1])).astype(np.float32)

  def loss(fn):
    def f(x, scale, bias):
      y, mean, var = fn(x, scale, bias)
      return jnp.sum(y * dy) + jnp.sum(mean * cm) + jnp.sum(var * cv)
    return jax.jit(jax.grad(f, argnums=(0, 1, 2)))

  act = "relu" if relu else None
  ours = loss(lambda x, s, b: batch_norm.batch_norm_train(x, s, b, 1e-5, act))(x, scale, bias)
  ref = loss(lambda x, s, b: _reference(x, s, b, relu=relu))(x, scale, bias)
  for a, b in zip(ours, ref):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  # Only y differentiated (the training case: the statistics feed the running averages only).
  f = lambda fn: jax.grad(lambda x: jnp.sum(fn(x)[0] * dy))(x)
  np.testing.assert_allclose(f(lambda x: batch_norm.batch_norm_train(x, scale, bias, 1e-5, act)),
                             f(lambda x: _reference(x, scale, bias, relu=relu)),
                             rtol=2e-4, atol=2e-5)


def test_float64_gradient_to_rounding():
  with jax.enable_x64(True):
    x, scale, bias = _data(np.float64)
    dy = np.random.default_rng(2).standard_normal(x.shape)
    grad = lambda fn: jax.grad(lambda *a: jnp.sum(fn(*a)[0] * dy), argnums=(0, 1, 2))(
        jnp.asarray(x), jnp.asarray(scale), jnp.asarray(bias))
    ours = grad(lambda x, s, b: batch_norm.batch_norm_train(x, s, b, 1e-5, "relu"))
    ref = grad(lambda x, s, b: _reference(x, s, b, relu=True))
    for a, b in zip(ours, ref):
      assert a.dtype == jnp.float64
      np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def test_bfloat16_input_gives_float32_as_flax():
  x, _, _ = _data()
  xb = jnp.asarray(x, jnp.bfloat16)
  flax_vars = _FlaxPair(train=True).init(jax.random.key(0), xb)
  y_f, _ = _FlaxPair(True).apply(flax_vars, xb, mutable=["batch_stats"])
  y_o, _ = _OursPair(True).apply(flax_vars, xb, mutable=["batch_stats"])
  assert y_o.dtype == y_f.dtype == jnp.float32
  np.testing.assert_allclose(y_o, y_f, rtol=1e-5, atol=1e-5)
  g = jax.grad(lambda x: jnp.sum(_OursPair(True).apply(flax_vars, x,
                                                       mutable=["batch_stats"])[0]))(xb)
  assert g.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(g.astype(jnp.float32))))


def test_unfused_activation_and_bad_activation():
  x, _, _ = _data()

  class Leaky(nn.Module):
    @nn.compact
    def __call__(self, x):
      return layers.normalization("batch", True, activation="leaky_relu")(x)

  v = Leaky().init(jax.random.key(0), x)
  y, _ = Leaky().apply(v, x, mutable=["batch_stats"])
  ref, _, _ = _reference(jnp.asarray(x), 1.0, 0.0)
  np.testing.assert_allclose(y, nn.leaky_relu(ref, 0.2), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="activation"):
    batch_norm.BatchNorm(activation="tanh").init(jax.random.key(0), x)
