"""oneDNN convolutions through the XLA FFI (`enhance_jax.native`) against `lax.conv_general_dilated`.

Values and gradients to 1e-5 relative (largest difference over largest reference value) for
the configurations the models use, under jit, vmap, a jit sharded over 4 CPU devices and grad
of grad. Skipped, with the reason, where the extension was not built at install.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from enhance_jax.models import convolution
from enhance_jax.native import conv as onednn_conv
from enhance_jax.native import onednn_status

_STATUS = onednn_status()
needs_onednn = pytest.mark.skipif(
    _STATUS[0] != "onednn", reason=f"oneDNN extension not in use: {_STATUS[1]}")
_DN = ("NHWC", "HWIO", "NHWC")


def _spec(x_shape, k_shape, strides, padding, dilation):
  window = [(k - 1) * d + 1 for k, d in zip(k_shape[:2], dilation)]
  pads = (lax.padtype_to_pads(x_shape[1:3], window, strides, padding)
          if isinstance(padding, str) else padding)
  return onednn_conv.Spec(tuple(strides), tuple(tuple(int(v) for v in p) for p in pads),
                          tuple(dilation), tuple(x_shape[1:3]), tuple(k_shape[:2]))


def _ref(x, k, spec):
  return lax.conv_general_dilated(x, k, spec.strides, spec.pads, rhs_dilation=spec.dilation,
                                  dimension_numbers=_DN, precision=lax.Precision.HIGHEST)


def _assert_close(got, want, tol=1e-5):
  got, want = np.asarray(got), np.asarray(want)
  assert got.shape == want.shape
  err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
  assert err <= tol, f"relative error {err:.2e} > {tol}"


def _value_and_grads(conv):
  """y and the input and kernel gradients for a random cotangent r (the vjp of y at r)."""
  def f(x, k, r):
    y, vjp = jax.vjp(conv, x, k)
    return y, vjp(r)
  return jax.jit(f)


def _operands(n, hw, c, o, kernel, seed=0):
  """x ~ N(0, 1) and a kernel scaled as the models initialise it (outputs of order 1)."""
  kx, kk = jax.random.split(jax.random.key(seed))
  fan_in = kernel[0] * kernel[1] * c
  return (jax.random.normal(kx, (n, *hw, c), jnp.float32),
          jax.random.normal(kk, (*kernel, c, o), jnp.float32) / np.sqrt(fan_in))


# (batch, (H, W), C, O, kernel, strides, padding, dilation): the models' convolutions, small.
CONFIGS = [
    (2, (7, 6), 1, 64, (3, 3), (1, 1), "SAME", (1, 1)),       # DnCNN / FFDNet head
    (2, (5, 5), 64, 64, (3, 3), (1, 1), "SAME", (1, 1)),      # DnCNN body, MIRNet, U-Net
    (2, (5, 6), 64, 1, (3, 3), (1, 1), "SAME", (1, 1)),       # DnCNN tail
    (2, (11, 10), 1, 8, (9, 9), (1, 1), "SAME", (1, 1)),      # SRCNN 9-5-5 head, SRResNet 9x9
    (1, (12, 11), 1, 4, (9, 9), (1, 1), "VALID", (1, 1)),     # SRCNN without padding
    (2, (6, 7), 8, 1, (5, 5), (1, 1), "SAME", (1, 1)),        # SRCNN tail, ESPCN head
    (2, (4, 5), 3, 5, (1, 1), (1, 1), "SAME", (1, 1)),        # 1x1 (MIRNet, U-Net head)
    (2, (8, 8), 3, 8, (4, 4), (2, 2), ((1, 1), (1, 1)), (1, 1)),  # pix2pix / PatchGAN
    (2, (7, 8), 3, 5, (3, 3), (2, 2), "SAME", (1, 1)),        # strided downsampling
    (1, (10, 9), 2, 3, (3, 3), (3, 3), "VALID", (1, 1)),      # stride 3
    (1, (9, 9), 3, 4, (9, 9), (3, 3), "SAME", (1, 1)),
    (2, (7, 7), 3, 4, (3, 3), (1, 1), "SAME", (2, 2)),        # dilated
    (1, (9, 8), 2, 3, (3, 3), (1, 1), "SAME", (3, 3)),
    (1, (8, 9), 3, 2, (5, 3), (2, 1), "VALID", (1, 2)),       # everything asymmetric
    (2, (1, 1), 16, 8, (3, 3), (1, 1), "SAME", (1, 1)),       # U-Net bottleneck: window > input
    (2, (2, 2), 16, 8, (3, 3), (1, 1), "SAME", (1, 1)),
    (1, (3, 2), 4, 6, (3, 3), (1, 1), ((2, 0), (1, 3)), (1, 1)),  # explicit, uneven
    (2, (7, 7), 3, 3, (7, 7), (1, 1), "SAME", (1, 1)),        # 7x7
    (3, (12, 12), 4, 4, (3, 3), (1, 1), "SAME", (1, 1)),      # batch split over XLA's threads,
]                                                             # weight-gradient partials summed


@needs_onednn
@pytest.mark.parametrize("n,hw,c,o,kernel,strides,padding,dilation", CONFIGS)
def test_values_and_gradients_match_lax(n, hw, c, o, kernel, strides, padding, dilation):
  x, k = _operands(n, hw, c, o, kernel)
  spec = _spec(x.shape, k.shape, strides, padding, dilation)
  r = jax.random.normal(jax.random.key(7), (n, *onednn_conv.out_hw(spec), o))
  y, (dx, dk) = _value_and_grads(lambda x, k: onednn_conv.conv(x, k, spec))(x, k, r)
  y_ref, (dx_ref, dk_ref) = _value_and_grads(lambda x, k: _ref(x, k, spec))(x, k, r)
  _assert_close(y, y_ref)
  _assert_close(dx, dx_ref)
  _assert_close(dk, dk_ref)


@needs_onednn
@pytest.mark.parametrize("config,xla_parts", [(CONFIGS[1], False), (CONFIGS[8], False),
                                               (CONFIGS[13], False), (CONFIGS[5], True)])
def test_grad_of_grad_matches_lax(config, xla_parts):
  """Second derivatives: each of the three FFI kernels differentiated once more (and with
  the input and weight gradients on XLA's kernels, as convolution.py picks for some shapes)."""
  n, hw, c, o, kernel, strides, padding, dilation = config
  x, k = _operands(n, hw, c, o, kernel, seed=1)
  spec = _spec(x.shape, k.shape, strides, padding, dilation)._replace(
      xla_weight_grad=xla_parts, xla_input_grad=xla_parts)

  def second(conv):
    inner = lambda x, k: jnp.sum(jnp.sin(conv(x, k)))
    # d/dx and d/dk of |d inner / dx|^2 + |d inner / dk|^2: every kernel's vjp is used.
    outer = lambda x, k: sum(jnp.sum(g ** 2) for g in jax.grad(inner, argnums=(0, 1))(x, k))
    return jax.jit(jax.grad(outer, argnums=(0, 1)))(x, k)

  for got, want in zip(second(lambda x, k: onednn_conv.conv(x, k, spec)),
                       second(lambda x, k: _ref(x, k, spec))):
    _assert_close(got, want)


@needs_onednn
def test_vmap_over_activations_and_over_both():
  n, hw, c, o, kernel, strides, padding, dilation = CONFIGS[8]
  x, k = _operands(n, hw, c, o, kernel, seed=2)
  spec = _spec(x.shape, k.shape, strides, padding, dilation)
  xs = jnp.stack([x, 2 * x - 1, -x])
  ks = jnp.stack([k, -k, 0.5 * k])
  ours = lambda x, k: onednn_conv.conv(x, k, spec)
  ref = lambda x, k: _ref(x, k, spec)
  loss = lambda conv: lambda x, k: jnp.sum(jnp.cos(conv(x, k)))
  for axes, args in (((0, None), (xs, k)), ((0, 0), (xs, ks)), ((None, 0), (x, ks))):
    _assert_close(jax.jit(jax.vmap(ours, axes))(*args), jax.vmap(ref, axes)(*args))
    for got, want in zip(jax.jit(jax.vmap(jax.grad(loss(ours), (0, 1)), axes))(*args),
                         jax.vmap(jax.grad(loss(ref), (0, 1)), axes)(*args)):
      _assert_close(got, want)
  # Nested vmap: two leading batch dims.
  xss = jnp.stack([xs, xs[::-1]])
  _assert_close(jax.jit(jax.vmap(jax.vmap(ours, (0, None)), (0, None)))(xss, k),
                jax.vmap(jax.vmap(ref, (0, None)), (0, None))(xss, k))


@needs_onednn
def test_sharded_jit_over_4_devices(monkeypatch):
  """A batch-sharded jit of a model layer's loss and gradients, the FFI path forced on."""
  if jax.device_count() < 4:
    pytest.skip("needs 4 CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=4)")
  monkeypatch.setattr(convolution, "use_onednn", True)
  mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
  x, k = _operands(8, (6, 5), 3, 4, (3, 3), seed=3)
  xs = jax.device_put(x, NamedSharding(mesh, P("data")))
  ks = jax.device_put(k, NamedSharding(mesh, P()))
  conv = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN)
  ref = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN)
  loss = lambda conv: lambda x, k: jnp.sum(jnp.sin(conv(x, k)))
  step = jax.jit(jax.value_and_grad(loss(conv), (0, 1)))
  assert "enhance_onednn_conv_bwd_weights" in step.lower(xs, ks).as_text()
  (v, (dx, dk)), (v_ref, (dx_ref, dk_ref)) = step(xs, ks), jax.value_and_grad(loss(ref), (0, 1))(x, k)
  _assert_close(v, v_ref)
  _assert_close(dx, dx_ref)
  _assert_close(dk, dk_ref)


@needs_onednn
def test_models_convolution_uses_onednn_on_cpu_only(monkeypatch):
  """`Conv` / `ConvTranspose` (whose sub-pixel convolution goes to oneDNN too) equal Flax's,
  and the oneDNN call is in the CPU lowering only; GPU/TPU lowerings keep lax's convolution."""
  monkeypatch.setattr(convolution, "use_onednn", True)
  assert convolution.backend() == "onednn"
  x = jax.random.normal(jax.random.key(4), (4, 8, 8, 3))  # every part on oneDNN (_xla_parts)
  for ours, ref in ((convolution.Conv(4, (3, 3), padding="SAME"), nn.Conv(4, (3, 3), padding="SAME")),
                    (convolution.ConvTranspose(4, (3, 3), (2, 2)), nn.ConvTranspose(4, (3, 3), (2, 2)))):
    params = ref.init(jax.random.key(5), x)
    loss = lambda m: lambda p, x: jnp.sum(m.apply(p, x) ** 2)
    _assert_close(jax.jit(ours.apply)(params, x), ref.apply(params, x))
    for got, want in zip(jax.tree.leaves(jax.jit(jax.grad(loss(ours), (0, 1)))(params, x)),
                         jax.tree.leaves(jax.grad(loss(ref), (0, 1))(params, x))):
      _assert_close(got, want)
    fn = jax.jit(jax.grad(loss(ours), (0, 1)))
    for platform in ("cpu", "cuda", "tpu"):
      hlo = fn.trace(params, x).lower(lowering_platforms=(platform,)).as_text()
      assert ("enhance_onednn_conv" in hlo) == (platform == "cpu"), platform
      assert ("stablehlo.convolution" in hlo) == (platform != "cpu"), platform


@needs_onednn
@pytest.mark.parametrize("use_bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("kernel,strides,padding,hw", [
    ((2, 2), (2, 2), "SAME", (4, 5)),               # U-Net up-convolution
    ((3, 3), (2, 2), ((1, 2), (1, 2)), (3, 6)),     # MIRNet's upsampler
    ((4, 4), (2, 2), "SAME", (5, 4)),               # pix2pix
    ((3, 3), (2, 2), "SAME", (4, 4)),               # denoising autoencoder
    ((3, 3), (2, 2), "VALID", (3, 5)),
    ((5, 5), (3, 3), "SAME", (2, 4)),
    ((4, 4), (2, 2), ((1, 2), (2, 1)), (3, 4)),
    ((2, 3), (2, 3), "SAME", (3, 3)),
])
def test_conv_transpose_on_onednn(monkeypatch, kernel, strides, padding, hw, use_bias):
  """A strided transposed convolution on oneDNN: with a bias, one deconvolution with the bias
  fused (`conv_input_grad_bias`, every kernel size); without, the backward-data convolution
  where the kernel exceeds the stride (else the sub-pixel matmul). No sub-pixel matmul on
  oneDNN; values, both gradients and grad of grad equal Flax's; other platforms lower lax's
  convolution."""
  monkeypatch.setattr(convolution, "use_onednn", True)
  x = jax.random.normal(jax.random.key(0), (3, *hw, 3))
  ours = convolution.ConvTranspose(5, kernel, strides, padding=padding, use_bias=use_bias)
  ref = nn.ConvTranspose(5, kernel, strides, padding=padding, use_bias=use_bias)
  params = ref.init(jax.random.key(1), x)
  params = jax.tree.map(lambda a: a + 0.3, params)  # a non-zero bias
  hlo = jax.jit(ours.apply).lower(params, x).as_text()
  on_onednn = use_bias or any(k > s for k, s in zip(kernel, strides))
  assert ("enhance_onednn_conv_bwd_data_bias" in hlo) == use_bias
  assert ("enhance_onednn_conv_bwd_data" in hlo) == on_onednn
  assert ("dot_general" in hlo) == (not on_onednn)
  _assert_close(jax.jit(ours.apply)(params, x), ref.apply(params, x))
  loss = lambda m: lambda p, x: jnp.sum(jnp.sin(m.apply(p, x)))  # noqa: E731
  for got, want in zip(jax.tree.leaves(jax.jit(jax.grad(loss(ours), (0, 1)))(params, x)),
                       jax.tree.leaves(jax.grad(loss(ref), (0, 1))(params, x))):
    _assert_close(got, want)
  gg = lambda m: jax.grad(lambda x: jnp.sum(jax.grad(loss(m), 1)(params, x) ** 2))  # noqa: E731
  _assert_close(jax.jit(gg(ours))(x), gg(ref)(x), tol=1e-4)
  cuda = jax.jit(ours.apply).trace(params, x).lower(lowering_platforms=("cuda",)).as_text()
  assert "enhance_onednn" not in cuda


def test_backend_reports_what_runs(monkeypatch):
  """"onednn" only when the extension loaded; never when turned off."""
  monkeypatch.setattr(convolution, "use_onednn", False)
  assert convolution.backend() == "xla"
  monkeypatch.setattr(convolution, "use_onednn", True)
  assert convolution.backend() == ("onednn" if _STATUS[0] == "onednn" else "xla")
  if _STATUS[0] != "onednn":
    assert _STATUS[1]  # the reason is said


def test_unsupported_configurations_keep_lax():
  spec = onednn_conv.Spec((1, 1), ((1, 1), (1, 1)), (1, 1), (4, 4), (3, 3))
  if _STATUS[0] == "onednn":
    assert onednn_conv.supported((1, 4, 4, 2), (3, 3, 2, 5), jnp.float32, jnp.float32, spec)
  assert not onednn_conv.supported((1, 4, 4, 2), (3, 3, 2, 5), jnp.bfloat16, jnp.float32, spec)
  assert not onednn_conv.supported((1, 4, 4, 2), (3, 3, 2, 5), jnp.float32, jnp.float32, spec,
                                   preferred_element_type=jnp.bfloat16)
  negative = spec._replace(pads=((-1, 0), (0, 0)))
  assert not onednn_conv.supported((1, 4, 4, 2), (3, 3, 2, 5), jnp.float32, jnp.float32, negative)


@needs_onednn
def test_openmp_and_split_threading_agree():
  """The two ways of using XLA's threads (native.set_threading) give lax's values."""
  from enhance_jax.native import set_threading
  n, hw, c, o, kernel, strides, padding, dilation = CONFIGS[-1]
  x, k = _operands(n, hw, c, o, kernel, seed=5)
  spec = _spec(x.shape, k.shape, strides, padding, dilation)
  r = jax.random.normal(jax.random.key(8), (n, *onednn_conv.out_hw(spec), o))
  want = _value_and_grads(lambda x, k: _ref(x, k, spec))(x, k, r)
  try:
    for mode, per_call in (("omp", False), ("split", False), ("split", True)):
      set_threading(mode)
      s = spec._replace(omp=per_call)  # per_call: the call asks for one OpenMP team
      got = _value_and_grads(lambda x, k: onednn_conv.conv(x, k, s))(x, k, r)
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        _assert_close(a, b)
  finally:
    set_threading("split")


@needs_onednn
def test_which_convolutions_go_to_onednn(monkeypatch):
  """models.convolution's rules: large weights stay on XLA unless the batch has >= 1024
  pixels (then one OpenMP team); a convolution to one channel runs its forward on oneDNN."""
  monkeypatch.setattr(convolution, "use_onednn", True)

  def hlo(x_shape, k_shape):
    f = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN)
    return jax.jit(f).lower(jnp.zeros(x_shape), jnp.zeros(k_shape)).as_text()

  assert "enhance_onednn" not in hlo((2, 4, 4, 64), (3, 3, 64, 128))
  big = hlo((1, 32, 32, 256), (3, 3, 256, 512))
  assert "enhance_onednn_conv_fwd" in big and "omp = 1" in big
  small = hlo((4, 16, 16, 16), (3, 3, 16, 16))
  assert "enhance_onednn_conv_fwd" in small and "omp = 0" in small
  assert "enhance_onednn_conv_fwd" in hlo((2, 8, 8, 16), (3, 3, 16, 1))


@needs_onednn
@pytest.mark.parametrize("activation", ["relu", None, "leaky_relu"])
def test_conv_act_equals_flax_conv_then_activation(monkeypatch, activation):
  """ConvAct: Flax Conv's parameters and init, its output then the activation; a ReLU (or
  none) is one oneDNN call with bias and ReLU post-ops on CPU only; values, gradients, grad
  of grad and vmap equal Flax's."""
  monkeypatch.setattr(convolution, "use_onednn", True)
  x = jax.random.normal(jax.random.key(0), (4, 9, 7, 6))
  ours = convolution.ConvAct(8, (3, 3), activation)
  ref_conv = nn.Conv(8, (3, 3), padding="SAME")
  act = {None: lambda y: y, "relu": nn.relu, "leaky_relu": lambda y: nn.leaky_relu(y, 0.2)}
  ref = lambda v, x: act[activation](ref_conv.apply(v, x))
  v = ours.init(jax.random.key(1), x)
  jax.tree.map(np.testing.assert_array_equal, v, ref_conv.init(jax.random.key(1), x))
  v = jax.tree.map(lambda a: a + 0.1, v)  # a non-zero bias
  fn = jax.jit(ours.apply)
  fused = activation in (None, "relu")
  assert ("enhance_onednn_conv_fwd_bias" in fn.lower(v, x).as_text()) == fused
  _assert_close(fn(v, x), ref(v, x))
  loss = lambda f: lambda v, x: jnp.sum(jnp.sin(f(v, x)))
  for got, want in zip(jax.tree.leaves(jax.jit(jax.grad(loss(ours.apply), (0, 1)))(v, x)),
                       jax.tree.leaves(jax.grad(loss(ref), (0, 1))(v, x))):
    _assert_close(got, want)
  gg = lambda f: jax.grad(lambda x: jnp.sum(jax.grad(loss(f), 1)(v, x) ** 2))
  _assert_close(jax.jit(gg(ours.apply))(x), gg(ref)(x), tol=1e-4)
  xs = jnp.stack([x, 2 * x])
  _assert_close(jax.jit(jax.vmap(ours.apply, (None, 0)))(v, xs), jax.vmap(ref, (None, 0))(v, xs))
  if fused:
    hlo = jax.jit(ours.apply).trace(v, x).lower(lowering_platforms=("cuda",)).as_text()
    assert "enhance_onednn" not in hlo and "stablehlo.convolution" in hlo


@needs_onednn
@pytest.mark.parametrize("n,hw,c0,c1,o,relu", [
    (2, (7, 6), 3, 5, 4, True),
    (3, (12, 12), 8, 8, 8, False),   # batch split over XLA's threads; no activation
    (1, (5, 9), 16, 4, 6, True),
])
def test_conv_concat_bias_matches_lax(n, hw, c0, c1, o, relu):
  """conv_concat_bias(x0, x1, w, b) = conv(concat(x0, x1), w) + b (then ReLU), without the
  concatenation: values, the four gradients, grad of grad and vmap equal lax's."""
  k0, k1, kk, kb = jax.random.split(jax.random.key(3), 4)
  x0 = jax.random.normal(k0, (n, *hw, c0))
  x1 = jax.random.normal(k1, (n, *hw, c1))
  w = jax.random.normal(kk, (3, 3, c0 + c1, o)) / np.sqrt(9 * (c0 + c1))
  b = jax.random.normal(kb, (o,))
  spec = _spec((n, *hw, c0 + c1), w.shape, (1, 1), "SAME", (1, 1))
  act = jax.nn.relu if relu else (lambda y: y)
  ref = lambda x0, x1, w, b: act(_ref(jnp.concatenate([x0, x1], -1), w, spec) + b)
  ours = lambda x0, x1, w, b: onednn_conv.conv_concat_bias(x0, x1, w, b, spec, relu)
  hlo = jax.jit(ours).lower(x0, x1, w, b).as_text()
  assert "enhance_onednn_conv_concat_fwd_bias" in hlo and "concatenate" not in hlo
  _assert_close(jax.jit(ours)(x0, x1, w, b), ref(x0, x1, w, b))
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
  for got, want in zip(jax.jit(jax.grad(loss(ours), (0, 1, 2, 3)))(x0, x1, w, b),
                       jax.grad(loss(ref), (0, 1, 2, 3))(x0, x1, w, b)):
    _assert_close(got, want)
  gg = lambda f: jax.grad(lambda x1: jnp.sum(jax.grad(loss(f), 2)(x0, x1, w, b) ** 2))  # noqa: E731
  _assert_close(jax.jit(gg(ours))(x1), gg(ref)(x1), tol=1e-4)
  xs0, xs1 = jnp.stack([x0, -x0]), jnp.stack([x1, 2 * x1])
  vm = lambda f: jax.vmap(f, (0, 0, None, None))  # noqa: E731
  _assert_close(jax.jit(vm(ours))(xs0, xs1, w, b), vm(ref)(xs0, xs1, w, b))


@needs_onednn
def test_conv_act_on_a_tuple_is_the_conv_of_the_concatenation(monkeypatch):
  """ConvAct((a, b)) has the parameters of ConvAct(concat(a, b)) and equals it (values,
  gradients), with no concatenation in the CPU lowering; on XLA's kernels too."""
  a = jax.random.normal(jax.random.key(0), (3, 8, 7, 4))
  b = jax.random.normal(jax.random.key(1), (3, 8, 7, 6))
  m = convolution.ConvAct(5, (3, 3), "relu")
  v = m.init(jax.random.key(2), jnp.concatenate([a, b], -1))
  jax.tree.map(np.testing.assert_array_equal, m.init(jax.random.key(2), (a, b)), v)
  v = jax.tree.map(lambda p: p + 0.05, v)
  want = m.apply(v, jnp.concatenate([a, b], -1))
  loss = lambda f: lambda v, a, b: jnp.sum(jnp.sin(f(v, a, b)))  # noqa: E731
  grads_want = jax.grad(loss(lambda v, a, b: m.apply(v, jnp.concatenate([a, b], -1))),
                        (0, 1, 2))(v, a, b)
  for use in (True, False):
    monkeypatch.setattr(convolution, "use_onednn", use)
    fn = jax.jit(lambda v, a, b: m.apply(v, (a, b)))
    hlo = fn.lower(v, a, b).as_text()
    assert ("concatenate" not in hlo) == use
    assert ("enhance_onednn_conv_concat_fwd_bias" in hlo) == use
    _assert_close(fn(v, a, b), want)
    for got, w in zip(jax.tree.leaves(jax.jit(jax.grad(loss(lambda v, a, b: m.apply(v, (a, b))),
                                                       (0, 1, 2)))(v, a, b)),
                      jax.tree.leaves(grads_want)):
      _assert_close(got, w)
