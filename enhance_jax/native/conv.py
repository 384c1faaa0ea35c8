"""oneDNN 2-D convolutions as JAX functions: `conv(x, w, spec)`, differentiable to any order.

x (N, H, W, C) and w (KH, KW, C, O) float32, NHWC / HWIO as `lax.conv_general_dilated`
with dimension_numbers ("NHWC", "HWIO", "NHWC"); result (N, Ho, Wo, O). The forward,
input-gradient and weight-gradient convolutions are three FFI handlers of
`onednn_conv.cc`; each is a `jax.custom_vjp` whose cotangents are the other two (all three
are bilinear), so `grad` of `grad` stays on oneDNN. `conv_bias` is the forward with a bias
and optionally a ReLU applied inside the same oneDNN call (post-ops, a fourth handler);
`conv_concat_bias` is that forward over the channel concatenation of two inputs without
forming it (a fifth: the two parts of the kernel accumulate into one output);
`conv_input_grad_bias` is the input gradient plus a bias, i.e. a transposed convolution with
its bias (a sixth: oneDNN's deconvolution, bias fused).
Under `vmap` the three get the batch as extra leading dims (`vmap_method="expand_dims"`); a
batch of activations only is folded into N (one oneDNN call); the other three run once per
index. Runs on CPU only: callers pick it inside the CPU branch of `lax.platform_dependent`
(`enhance_jax.models.convolution`), after `supported(...)`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.native import onednn_status


class Spec(NamedTuple):
  """Static description of one convolution: what the three FFI calls need besides operands."""
  strides: tuple[int, int]
  pads: tuple[tuple[int, int], tuple[int, int]]  # (lo, hi) per spatial dim, >= 0
  dilation: tuple[int, int]  # rhs_dilation, >= 1
  in_hw: tuple[int, int]  # H, W of x
  kernel_hw: tuple[int, int]  # KH, KW of w
  # The input gradient / weight gradient on XLA's kernel (lax) instead of oneDNN's, where that
  # one is slower (models.convolution decides per shape).
  xla_weight_grad: bool = False
  xla_input_grad: bool = False
  # One OpenMP team per call instead of batch slices on XLA's pool (see onednn_conv.cc).
  omp: bool = False


def available() -> bool:
  return onednn_status()[0] == "onednn"


def out_hw(spec: Spec) -> tuple[int, int]:
  return tuple((n + lo + hi - (k - 1) * d - 1) // s + 1
               for n, (lo, hi), k, d, s in zip(spec.in_hw, spec.pads, spec.kernel_hw,
                                               spec.dilation, spec.strides))


def supported(lhs_shape, rhs_shape, lhs_dtype, rhs_dtype, spec: Spec,
              preferred_element_type=None) -> bool:
  """Whether `conv` computes this convolution (else the caller keeps XLA's)."""
  if not available() or len(lhs_shape) != 4 or len(rhs_shape) != 4:
    return False
  if jnp.dtype(lhs_dtype) != jnp.float32 or jnp.dtype(rhs_dtype) != jnp.float32:
    return False
  if preferred_element_type is not None and jnp.dtype(preferred_element_type) != jnp.float32:
    return False
  if lhs_shape[3] != rhs_shape[2] or min(*lhs_shape, *rhs_shape) < 1:
    return False
  if min(min(p) for p in spec.pads) < 0 or min(spec.strides) < 1 or min(spec.dilation) < 1:
    return False
  return min(out_hw(spec)) >= 1


def _attrs(spec: Spec) -> dict:
  (sh, sw), ((plh, phh), (plw, phw)), (dh, dw) = spec.strides, spec.pads, spec.dilation
  return {k: np.int64(v) for k, v in dict(stride_h=sh, stride_w=sw, pad_lo_h=plh, pad_lo_w=plw,
                                          pad_hi_h=phh, pad_hi_w=phw, dil_h=dh, dil_w=dw,
                                          omp=spec.omp).items()}


def _lax_conv(x, w, spec: Spec):
  return jax.lax.conv_general_dilated(x, w, spec.strides, spec.pads, rhs_dilation=spec.dilation,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _call(name: str, operands, shape, spec: Spec, vmap_method="expand_dims", **attrs):
  backend, why = onednn_status()  # loads the extension and registers its handlers, once
  if backend != "onednn":
    raise RuntimeError(f"oneDNN convolutions unavailable: {why}")
  return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(shape, jnp.float32),
                          vmap_method=vmap_method)(*operands, **_attrs(spec), **attrs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv(x, w, spec: Spec):
  """y = conv(x, w): forward convolution (N, H, W, C) x (KH, KW, C, O) -> (N, Ho, Wo, O)."""
  return _call("enhance_onednn_conv_fwd", (x, w), (x.shape[0], *out_hw(spec), w.shape[3]), spec)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_input_grad(dy, w, spec: Spec):
  """dx = the transpose of conv(., w) applied to dy: (N, Ho, Wo, O) -> (N, H, W, C)."""
  return _call("enhance_onednn_conv_bwd_data", (dy, w), (dy.shape[0], *spec.in_hw, w.shape[2]),
               spec)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_weight_grad(x, dy, spec: Spec):
  """dw = the transpose of conv(x, .) applied to dy: -> (KH, KW, C, O)."""
  return _call("enhance_onednn_conv_bwd_weights", (x, dy),
               (*spec.kernel_hw, x.shape[3], dy.shape[3]), spec)


def _weight_grad(x, dy, spec: Spec, w_dtype):
  """conv_weight_grad, or XLA's weight gradient where `spec.xla_weight_grad`."""
  if not spec.xla_weight_grad:
    return conv_weight_grad(x, dy, spec)
  w = jnp.zeros((*spec.kernel_hw, x.shape[3], dy.shape[3]), w_dtype)  # only its shape is used
  return jax.vjp(lambda w: _lax_conv(x, w, spec), w)[1](dy)[0]


def _input_grad(dy, w, spec: Spec):
  """conv_input_grad, or XLA's input gradient where `spec.xla_input_grad`."""
  if not spec.xla_input_grad:
    return conv_input_grad(dy, w, spec)
  x = jnp.zeros((dy.shape[0], *spec.in_hw, w.shape[2]), dy.dtype)  # only its shape is used
  return jax.vjp(lambda x: _lax_conv(x, w, spec), x)[1](dy)[0]


def _conv_fwd(x, w, spec):
  return conv(x, w, spec), (x, w)


def _conv_bwd(spec, res, g):
  x, w = res
  return _input_grad(g, w, spec), _weight_grad(x, g, spec, w.dtype)


def _input_grad_fwd(dy, w, spec):
  return conv_input_grad(dy, w, spec), (dy, w)


def _input_grad_bwd(spec, res, c):  # c: cotangent of dx, shaped like x
  dy, w = res
  return conv(c, w, spec), _weight_grad(c, dy, spec, w.dtype)


def _weight_grad_fwd(x, dy, spec):
  return conv_weight_grad(x, dy, spec), (x, dy)


def _weight_grad_bwd(spec, res, c):  # c: cotangent of dw, shaped like w
  x, dy = res
  return _input_grad(dy, c, spec), conv(x, c, spec)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def conv_bias(x, w, b, spec: Spec, relu: bool):
  """y = conv(x, w) + b, then max(y, 0) if `relu`: (N, H, W, C) x (KH, KW, C, O), (O,) ->
  (N, Ho, Wo, O), the bias and the ReLU applied by oneDNN as post-ops of the convolution (no
  pass of their own over the output). The gradient takes the ReLU's mask from y."""
  # "sequential": the handler takes an unbatched bias; a vmapped call runs once per index.
  return _call("enhance_onednn_conv_fwd_bias", (x, w, b), (x.shape[0], *out_hw(spec), w.shape[3]),
               spec, vmap_method="sequential", relu=np.int64(relu))


def _conv_bias_fwd(x, w, b, spec, relu):
  y = conv_bias(x, w, b, spec, relu)  # itself differentiable: grad of grad stays on oneDNN
  return y, (x, w, y if relu else None)


def _conv_bias_bwd(spec, relu, res, g):
  x, w, y = res
  if relu:
    g = jnp.where(y > 0, g, 0)
  return (_input_grad(g, w, spec), _weight_grad(x, g, spec, w.dtype),
          jnp.sum(g, axis=tuple(range(g.ndim - 1))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def conv_concat_bias(x0, x1, w, b, spec: Spec, relu: bool):
  """conv_bias(concatenate([x0, x1], -1), w, b, spec, relu) without the concatenation:
  x0 (N, H, W, C0), x1 (N, H, W, C1), w (KH, KW, C0 + C1, O) -> (N, Ho, Wo, O). oneDNN
  convolves x0 with w's first C0 input channels into the output, then x1 with the rest,
  adding the bias and the output's contents (a sum post-op), then the ReLU: no pass writing
  the concatenated input, none over the output besides the two convolutions'. `spec` is the
  concatenated input's (the same for both parts)."""
  return _call("enhance_onednn_conv_concat_fwd_bias", (x0, x1, w, b),
               (x0.shape[0], *out_hw(spec), w.shape[3]), spec, vmap_method="sequential",
               relu=np.int64(relu))


def _conv_concat_bias_fwd(x0, x1, w, b, spec, relu):
  y = conv_concat_bias(x0, x1, w, b, spec, relu)  # differentiable again, as conv_bias
  return y, (x0, x1, w, y if relu else None)


def _conv_concat_bias_bwd(spec, relu, res, g):
  x0, x1, w, y = res
  if relu:
    g = jnp.where(y > 0, g, 0)
  c0 = x0.shape[-1]
  w0, w1 = w[:, :, :c0], w[:, :, c0:]
  dw = jnp.concatenate([_weight_grad(x0, g, spec, w.dtype), _weight_grad(x1, g, spec, w.dtype)],
                       axis=2)
  return (_input_grad(g, w0, spec), _input_grad(g, w1, spec), dw,
          jnp.sum(g, axis=tuple(range(g.ndim - 1))))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv_input_grad_bias(dy, w, b, spec: Spec):
  """conv_input_grad(dy, w, spec) + b, b (C,): a transposed convolution with a bias, run as
  oneDNN's deconvolution with the bias fused (no pass of its own over the output)."""
  return _call("enhance_onednn_conv_bwd_data_bias", (dy, w, b),
               (dy.shape[0], *spec.in_hw, w.shape[2]), spec, vmap_method="sequential")


def _input_grad_bias_fwd(dy, w, b, spec):
  return conv_input_grad_bias(dy, w, b, spec), (dy, w)


def _input_grad_bias_bwd(spec, res, c):
  dy, w = res
  return conv(c, w, spec), _weight_grad(c, dy, spec, w.dtype), jnp.sum(c, axis=(0, 1, 2))


conv.defvjp(_conv_fwd, _conv_bwd)
conv_input_grad_bias.defvjp(_input_grad_bias_fwd, _input_grad_bias_bwd)
conv_bias.defvjp(_conv_bias_fwd, _conv_bias_bwd)
conv_concat_bias.defvjp(_conv_concat_bias_fwd, _conv_concat_bias_bwd)
conv_input_grad.defvjp(_input_grad_fwd, _input_grad_bwd)
conv_weight_grad.defvjp(_weight_grad_fwd, _weight_grad_bwd)
