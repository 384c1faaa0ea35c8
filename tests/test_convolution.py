"""`models.convolution` and `layers.max_pool` against the Flax/lax layers they replace."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.models import convolution, layers


def _loss_grads(module, params, x):
  return jax.grad(lambda p, x: jnp.sum(module.apply(p, x) ** 2), argnums=(0, 1))(params, x)


def _assert_same(ref, ours, x, atol=2e-5):
  """Same parameter tree, output and gradients (w.r.t. parameters and input)."""
  params = ref.init(jax.random.key(1), x)
  assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
  # Random non-zero biases too, so every parameter is checked.
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  params = jax.tree.unflatten(tree, [jax.random.normal(k, a.shape) for k, a in zip(keys, leaves)])
  want, got = ref.apply(params, x), ours.apply(params, x)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(_loss_grads(ref, params, x)),
                  jax.tree.leaves(_loss_grads(ours, params, x))):
    np.testing.assert_allclose(b, a, atol=atol * (1 + float(jnp.abs(a).max())), rtol=1e-4)


@pytest.mark.parametrize("kernel,strides,padding,hw", [
    ((2, 2), (2, 2), "SAME", (4, 5)),               # U-Net up-convolution: a matmul
    ((4, 4), (2, 2), "SAME", (5, 4)),               # pix2pix
    ((3, 3), (2, 2), ((1, 2), (1, 2)), (3, 6)),     # MIRNet (PyTorch output_padding=1)
    ((3, 3), (2, 2), "SAME", (4, 4)),               # denoising autoencoder
    ((3, 3), (2, 2), "VALID", (3, 5)),
    ((2, 3), (2, 3), "SAME", (3, 3)),
    ((5, 5), (3, 3), "SAME", (2, 4)),
    ((3, 3), (1, 1), "SAME", (4, 4)),
    ((1, 1), (2, 2), "SAME", (3, 3)),
    ((4, 4), (2, 2), ((1, 2), (2, 1)), (3, 4)),
])
def test_conv_transpose_matches_flax(kernel, strides, padding, hw):
  x = jax.random.normal(jax.random.key(0), (2, *hw, 3))
  _assert_same(nn.ConvTranspose(5, kernel, strides, padding=padding),
               convolution.ConvTranspose(5, kernel, strides, padding=padding), x)


@pytest.mark.parametrize("kernel,strides,padding,dilation,hw", [
    ((3, 3), (1, 1), "SAME", (1, 1), (2, 2)),          # U-Net bottleneck: im2col path
    ((3, 3), (1, 1), "SAME", (1, 1), (1, 1)),
    ((3, 3), (2, 2), "SAME", (1, 1), (2, 2)),
    ((3, 3), (1, 1), "SAME", (2, 2), (3, 3)),          # dilated window wider than the input
    ((4, 4), (2, 2), ((1, 1), (1, 1)), (1, 1), (2, 2)),
    ((3, 3), (1, 1), ((2, 0), (1, 3)), (1, 1), (2, 1)),
    ((5, 5), (1, 1), "VALID", (1, 1), (6, 6)),         # ordinary case: lax unchanged
    ((3, 3), (2, 2), "SAME", (1, 1), (7, 6)),
])
def test_conv_matches_flax(kernel, strides, padding, dilation, hw):
  x = jax.random.normal(jax.random.key(0), (2, *hw, 4))
  _assert_same(nn.Conv(6, kernel, strides, padding=padding, kernel_dilation=dilation),
               convolution.Conv(6, kernel, strides, padding=padding, kernel_dilation=dilation), x)


def test_rewrites_are_used():
  """The two rewritten cases lower without a dilated or oversized-window convolution."""
  x = jnp.ones((2, 2, 2, 8))
  up = convolution.ConvTranspose(4, (2, 2), (2, 2))
  hlo = jax.jit(lambda p, x: up.apply(p, x)).lower(up.init(jax.random.key(0), x), x).as_text()
  assert "convolution" not in hlo and "dot_general" in hlo
  k = jnp.ones((3, 3, 8, 4))
  hlo = jax.jit(lambda x, k: convolution.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))).lower(x, k).as_text()
  assert "convolution" not in hlo


def test_float64_runs_as_im2col_and_matches_lax():
  """Under jax_enable_x64 a float64 convolution (strided, dilated, padded) lowers for CPU to a
  matmul, not XLA's naive float64 kernel, and equals lax's in value and both gradients to
  float64 rounding."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), (2, 9, 8, 5), jnp.float64)
    k = jax.random.normal(jax.random.key(1), (3, 3, 5, 4), jnp.float64)
    for strides, pads, dil in (((1, 1), "SAME", (1, 1)), ((2, 1), ((2, 0), (1, 3)), (1, 1)),
                               ((1, 1), "VALID", (2, 2))):
      def f(conv):
        return lambda x, k: jnp.sum(jnp.sin(conv(x, k, strides, pads, rhs_dilation=dil,
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))))
      ours, ref = f(convolution.conv_general_dilated), f(jax.lax.conv_general_dilated)
      hlo = jax.jit(ours).lower(x, k).as_text()
      assert "convolution" not in hlo and "dot_general" in hlo
      np.testing.assert_allclose(ours(x, k), ref(x, k), rtol=1e-12)
      for a, b in zip(jax.grad(ours, (0, 1))(x, k), jax.grad(ref, (0, 1))(x, k)):
        assert a.dtype == jnp.float64
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_rewrites_only_where_lowered_for_cpu():
  """Lowered for GPU/TPU (here traced on a CPU host), jit, grad and vmap keep lax's convolutions;
  lowered for CPU, the same functions have the rewrites' matmuls instead."""
  x = jax.random.normal(jax.random.key(0), (2, 2, 2, 8))
  up = convolution.ConvTranspose(4, (2, 2), (2, 2))
  params = up.init(jax.random.key(1), x)
  k = jax.random.normal(jax.random.key(2), (3, 3, 8, 4))

  def loss(params, x, k):  # a sub-pixel and an im2col rewrite on CPU
    y = convolution.conv_general_dilated(x, k, (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(up.apply(params, x) ** 2) + jnp.sum(y ** 2)

  fns = {"jit": loss, "grad": jax.grad(loss, argnums=(0, 1, 2)),
         "vmap": jax.vmap(loss, in_axes=(None, 0, None))}
  args = {"jit": (params, x, k), "grad": (params, x, k), "vmap": (params, x[None].repeat(3, 0), k)}
  for name, fn in fns.items():
    for platform in ("cuda", "rocm", "tpu", "cpu"):
      hlo = jax.jit(fn).trace(*args[name]).lower(lowering_platforms=(platform,)).as_text()
      assert ("stablehlo.convolution" in hlo) == (platform != "cpu"), (name, platform)
      assert ("stablehlo.dot_general" in hlo) == (platform == "cpu"), (name, platform)
  # vmap on CPU: the rewritten branch batched, equal to one example at a time.
  xs = jax.random.normal(jax.random.key(3), (3, 2, 2, 2, 8))
  np.testing.assert_allclose(jax.jit(fns["vmap"])(params, xs, k),
                             [loss(params, xi, k) for xi in xs], rtol=1e-5)


def test_conv_transpose_rejects_non_nhwc():
  up = convolution.ConvTranspose(4, (2, 2), (2, 2))
  with pytest.raises(ValueError, match="NHWC"):
    up.init(jax.random.key(0), jnp.ones((2, 4, 4)))


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 7, 9, 2)])
def test_max_pool_matches_flax(shape):
  # Distinct values: no ties, so the gradients agree exactly too.
  x = jax.random.permutation(jax.random.key(0), np.prod(shape)).reshape(shape).astype(jnp.float32)
  ref = lambda x: nn.max_pool(x, (2, 2), (2, 2), padding="VALID")
  np.testing.assert_array_equal(layers.max_pool(x, 2), ref(x))
  g = lambda f: jax.grad(lambda x: jnp.sum(f(x) * jnp.arange(f(x).size).reshape(f(x).shape)))(x)
  np.testing.assert_array_equal(g(lambda x: layers.max_pool(x, 2)), g(ref))
