"""Convolution layers that every model uses: `Conv`, `ConvTranspose`, `conv_general_dilated`.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` (same
arguments, same result to float rounding) that, on CPU, rewrites two 2-D
NHWC/HWIO cases which XLA:CPU lowers to slow kernels (numbers in BENCHMARKS.md):

- transposed convolutions (`lhs_dilation` > 1): XLA convolves the zero-dilated
  input, so 3/4 of the multiply-adds of a stride-2 layer hit inserted zeros and
  the weight gradient is a dilated convolution (75-95 ms for a 2x2 stride-2
  U-Net up-convolution whose forward takes 1-6 ms). Rewritten as its sub-pixel
  form: one ordinary convolution of the undilated input with s*s*O output
  channels (a plain matmul for the 2x2 stride-2 case), then depth-to-space; or,
  where the oneDNN extension is in use and the kernel exceeds the stride (3x3 or
  4x4 stride 2, whose sub-pixel form pads each phase kernel to the largest),
  oneDNN's backward-data convolution of the strided convolution it transposes.
- windows larger than the input (a 3x3 'SAME' convolution on a 2x2 or 1x1
  U-Net bottleneck): XLA:CPU's convolution kernel takes 0.5-1.2 s where the same
  work as an explicit im2col matmul takes 4-5 ms.
- float64 convolutions (a run under `jax_enable_x64`, as experiments/parity's
  float64 comparison): with the XLA flags of `enhance_jax.cpu_defaults` XLA:CPU
  runs them on a naive kernel, 1.1 s for the forward and both gradients of a
  16x40x40 64->64 3x3 layer; as an im2col matmul 61 ms (float32: 23 ms).

The choice is made per lowering platform (`lax.platform_dependent`), not
where the model is traced: a computation compiled for GPU or TPU (including one
traced on a CPU host and lowered or exported for an accelerator) runs plain
`lax.conv_general_dilated`, whose accelerator kernels need no rewrite.
On CPU, the other float32 NHWC/HWIO convolutions (and the one inside the
sub-pixel form) whose weights are no larger than their input, or whose batch has
at least 1024 pixels (`_on_onednn`), run on oneDNN through the XLA FFI (`enhance_jax.native.conv`:
forward, input- and weight-gradient kernels, grad of grad included) when the
extension was built at install; `backend()` says "onednn" or "xla".
Everything else goes to `lax.conv_general_dilated` unchanged. `conv_bias_act` /
`ConvAct` (the U-Net's blocks) add the bias and a ReLU inside that oneDNN call as post-ops;
given a tuple (an up level's upsampled features and skip) they convolve its channel
concatenation without forming it. `Conv` is
`flax.linen.Conv` with this function; `ConvTranspose` has the parameters
(`kernel` of shape (kh, kw, in, out), `bias`) and results of
`flax.linen.ConvTranspose` for 'SAME', 'VALID' and explicit padding, so
checkpoints and imported weights are unaffected; on oneDNN a strided one with a bias
is one deconvolution call with the bias fused (any kernel size, 2x2 stride 2 included).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from enhance_jax.models import layers
from enhance_jax.native import conv as onednn_conv
from enhance_jax.native import onednn_status

# When CPU convolutions use the oneDNN extension (if it was built at install): None, when the
# process has one device (under a jit sharded over several, XLA cannot split an FFI call:
# it would gather the batch and run the whole convolution on every device); True, always;
# False, never (XLA's kernels with the rewrites). ENHANCE_JAX_NO_ONEDNN=1: never, process-wide.
use_onednn: bool | None = None


def backend() -> str:
  """Which kernels CPU convolutions run on: "onednn" (the extension built at install) or "xla"."""
  if use_onednn is False or onednn_status()[0] != "onednn":
    return "xla"
  return "onednn" if use_onednn or jax.device_count() == 1 else "xla"

_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def _ints(v) -> tuple[int, ...]:
  """Python ints (a Spec is a static, hashable FFI attribute set)."""
  return tuple(int(i) for i in v)


def _pairs(v, n: int) -> tuple[int, ...]:
  return (1,) * n if v is None else tuple(v)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
  """`lax.conv_general_dilated`; on CPU with the two rewrites of the module docstring."""
  kw = dict(window_strides=window_strides, padding=padding, lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count, batch_group_count=batch_group_count,
            precision=precision, preferred_element_type=preferred_element_type)
  plain = functools.partial(lax.conv_general_dilated, **kw)
  rewrite = _cpu_rewrite(lhs, rhs, **kw)
  if rewrite is None:
    return plain(lhs, rhs)
  return lax.platform_dependent(lhs, rhs, cpu=rewrite, default=plain)


def _cpu_rewrite(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                 dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                 precision=None, preferred_element_type=None):
  """The rewrite of the module docstring for this convolution (of arrays shaped
  like lhs, rhs) as a function of (lhs, rhs); None where there is none."""
  if lhs.ndim != 4 or feature_group_count != 1 or batch_group_count != 1:
    return None
  if lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != _NHWC:
    return None
  strides = _pairs(window_strides, 2)
  lhs_dil = _pairs(lhs_dilation, 2)
  rhs_dil = _pairs(rhs_dilation, 2)
  window = tuple((k - 1) * d + 1 for k, d in zip(rhs.shape[:2], rhs_dil))
  in_size = tuple((n - 1) * d + 1 for n, d in zip(lhs.shape[1:3], lhs_dil))
  if isinstance(padding, str):
    pads = lax.padtype_to_pads(in_size, window, strides, padding)
  else:
    pads = tuple(tuple(p) for p in padding)
  dot = functools.partial(_dot, precision=precision, preferred_element_type=preferred_element_type)
  if max(lhs_dil) > 1:
    if max(strides) > 1 or max(rhs_dil) > 1 or min(min(p) for p in pads) < 0:
      return None
    transposed = _onednn_transposed(lhs, rhs, lhs_dil, pads)
    return transposed or (lambda x, k: _subpixel(x, k, lhs_dil, pads, dot))
  if any(w > n for w, n in zip(window, lhs.shape[1:3])) or jnp.float64 in (lhs.dtype, rhs.dtype):
    return lambda x, k: _im2col(x, k, strides, pads, rhs_dil, dot)
  spec = _onednn_spec(lhs, rhs, strides, pads, rhs_dil, preferred_element_type)
  return None if spec is None else (lambda x, k: onednn_conv.conv(x, k, spec))


def _onednn_spec(lhs, rhs, strides, pads, rhs_dil, preferred_element_type=None):
  """The `native.conv.Spec` under which a (not transposed) NHWC convolution of arrays shaped
  like lhs, rhs runs on oneDNN, or None where it stays on XLA's kernels (no extension in
  use, `_on_onednn`, `native.conv.supported`)."""
  if backend() != "onednn" or not _on_onednn(lhs.shape, rhs.shape):
    return None
  spec = onednn_conv.Spec(_ints(strides), tuple(_ints(p) for p in pads), _ints(rhs_dil),
                          _ints(lhs.shape[1:3]), _ints(rhs.shape[:2]),
                          **_xla_parts(lhs.shape, rhs.shape))
  ok = onednn_conv.supported(lhs.shape, rhs.shape, lhs.dtype, rhs.dtype, spec,
                             preferred_element_type)
  return spec if ok else None


def _onednn_transposed(lhs, rhs, lhs_dil, pads, with_bias: bool = False):
  """A transposed convolution (the conv of the lhs_dil-dilated input padded by `pads`) as
  oneDNN's backward-data convolution of the strided convolution it transposes, where the
  extension is in use and its sub-pixel form is not a plain matmul (a kernel no larger than
  its stride). The sub-pixel form pads every phase's kernel to the largest phase's taps: for a
  3x3 stride-2 layer (MIRNet's upsampler) 16 taps per input pixel where 9 are used, so its
  forward took 5.1 ms to PyTorch's 2.6 (4x32x32x128, 2 CPU cores). None where not used.

  The strided convolution maps z (N, Ho, Wo, O) to (N, H, W, C) with the kernel flipped in
  space and in/out swapped, stride lhs_dil and pads (k - 1 - lo, k - 1 - hi).

  `with_bias`: a function of (x, k, b) adding the bias (C,) inside the oneDNN call (its
  deconvolution, `native.conv.conv_input_grad_bias`), for every kernel size: at the U-Net's
  2x2 stride-2 up-convolutions it beat the sub-pixel matmul and the bias pass after it."""
  if backend() != "onednn" or (not with_bias
                               and all(k <= s for k, s in zip(rhs.shape[:2], lhs_dil))):
    return None
  (n, h, w, c), (kh, kw, _, o) = lhs.shape, rhs.shape
  fpads = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip((kh, kw), pads))
  out = tuple((size - 1) * s + 1 + lo + hi - k + 1
              for size, s, (lo, hi), k in zip((h, w), lhs_dil, pads, (kh, kw)))
  if min(min(p) for p in fpads) < 0 or min(out) < 1:
    return None
  z_shape, w_shape = (n, *out, o), (kh, kw, o, c)
  spec = onednn_conv.Spec(_ints(lhs_dil), tuple(_ints(p) for p in fpads), (1, 1), _ints(out),
                          (kh, kw), **_xla_parts(z_shape, w_shape))
  if (onednn_conv.out_hw(spec) != (h, w)
      or not onednn_conv.supported(z_shape, w_shape, lhs.dtype, rhs.dtype, spec)):
    return None
  as_conv = lambda k: jnp.flip(k, (0, 1)).transpose(0, 1, 3, 2)
  if with_bias:
    return lambda x, k, b: onednn_conv.conv_input_grad_bias(x, as_conv(k), b, spec)
  return lambda x, k: onednn_conv.conv_input_grad(x, as_conv(k), spec)


def _on_onednn(lhs_shape, rhs_shape) -> bool:
  """Whether a float32 NHWC convolution of these shapes runs on oneDNN (else XLA's kernel):
  where its weights are no larger than its input, or where the batch has at least 1024 input
  pixels. Below both (the U-Net's 2x2-8x8 training levels with 256-1024 channels) the per-call
  weight reorder outweighs the gain; at inference tiles (4 x 16x16 and 4 x 32x32 with
  512-1024 channels) oneDNN with one OpenMP team took 241 ms per batch where XLA took 271
  (experiments/benchmarks/onednn_layers.py --layers=unet_inference, BENCHMARKS.md)."""
  return (math.prod(rhs_shape) <= math.prod(lhs_shape)
          or lhs_shape[0] * lhs_shape[1] * lhs_shape[2] >= 1024)


def _xla_parts(lhs_shape, rhs_shape) -> dict[str, bool]:
  """Per part of a oneDNN convolution: which gradients stay on XLA's kernels, where those were
  faster here (BENCHMARKS.md, experiments/benchmarks/onednn_layers.py), and the threading. XLA:
  the weight gradient of a convolution to one channel (the DnCNN and SRCNN tails), the input
  gradient of one from one channel (heads; unused in training), and the weight gradient where
  the weights exceed a quarter of the input. One OpenMP team (`omp`) where the weights exceed
  a quarter of the input: batch slices would each reorder the weights again."""
  to_one, from_one = rhs_shape[3] == 1, rhs_shape[2] == 1
  big_weights = 4 * math.prod(rhs_shape) > math.prod(lhs_shape)
  return {"xla_weight_grad": to_one or big_weights,
          "xla_input_grad": from_one, "omp": big_weights}


def _dot(a, b, precision, preferred_element_type):
  """(..., K) x (K, N) -> (..., N) as one 2-D matmul: XLA:CPU computes its weight
  gradient 2-6x faster than that of the same contraction over 4-D `a`."""
  y = lax.dot_general(a.reshape(-1, a.shape[-1]), b, (((1,), (0,)), ((), ())),
                      precision=precision, preferred_element_type=preferred_element_type)
  return y.reshape(*a.shape[:-1], b.shape[-1])


def _im2col(x, k, strides, pads, rhs_dil, dot):
  """Convolution as one matmul of the (kh*kw*C)-channel patches with the kernel."""
  kh, kw, c, o = k.shape
  x = lax.pad(x, jnp.array(0, x.dtype), ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
  n, hp, wp, _ = x.shape
  (sh, sw), (dh, dw) = strides, rhs_dil
  ho = (hp - (kh - 1) * dh - 1) // sh + 1
  wo = (wp - (kw - 1) * dw - 1) // sw + 1
  taps = [lax.slice(x, (0, i * dh, j * dw, 0),
                    (n, i * dh + (ho - 1) * sh + 1, j * dw + (wo - 1) * sw + 1, c), (1, sh, sw, 1))
          for i in range(kh) for j in range(kw)]
  return dot(jnp.concatenate(taps, axis=-1), k.reshape(kh * kw * c, o))


def _phase_taps(k: int, s: int, lo: int) -> tuple[int, np.ndarray]:
  """1-D sub-pixel decomposition of a convolution over an s-dilated input padded by `lo`.

  Output position s*q + r reads input q + d through kernel tap s*d + lo - r.
  Returns the smallest d and an (s, taps) array of kernel indices (-1: no tap).
  """
  d_min = -(lo // s)
  d_max = (k - 1 + s - 1 - lo) // s
  idx = np.array([[s * d + lo - r for d in range(d_min, d_max + 1)] for r in range(s)])
  return d_min, np.where((idx >= 0) & (idx < k), idx, -1)


def _subpixel(x, k, lhs_dil, pads, dot):
  """Convolution of the lhs-dilated input (a transposed convolution) in sub-pixel form."""
  n, h, w, c = x.shape
  kh, kw, _, o = k.shape
  (sh, sw), ((lo_h, hi_h), (lo_w, hi_w)) = lhs_dil, pads
  out_h = (h - 1) * sh + 1 + lo_h + hi_h - kh + 1
  out_w = (w - 1) * sw + 1 + lo_w + hi_w - kw + 1
  dh0, ih = _phase_taps(kh, sh, lo_h)
  dw0, iw = _phase_taps(kw, sw, lo_w)
  th, tw = ih.shape[1], iw.shape[1]
  # Phase kernel (th, tw, C, sh, sw, O): tap (a, b) of phase (rh, rw) is k[ih[rh, a], iw[rw, b]].
  kp = jnp.take(k, np.maximum(ih, 0).T, axis=0) * (ih.T >= 0)[:, :, None, None, None]
  kp = jnp.take(kp, np.maximum(iw, 0).T, axis=2) * (iw.T >= 0)[None, None, :, :, None, None]
  kp = kp.transpose(0, 2, 4, 1, 3, 5).reshape(th, tw, c, sh * sw * o)
  qh, qw = -(-out_h // sh), -(-out_w // sw)
  # Input rows q + d for q < qh and d in [dh0, dh0 + th): pad (or crop) x to fit exactly.
  x = lax.pad(x, jnp.array(0, x.dtype), ((0, 0, 0), (-dh0, qh - 1 + dh0 + th - h, 0),
                                         (-dw0, qw - 1 + dw0 + tw - w, 0), (0, 0, 0)))
  if th * tw == 1:
    y = dot(x, kp[0, 0])
  else:  # the CPU branch already: the phase convolution is rewritten where that applies
    kw = dict(window_strides=(1, 1), padding="VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = (_cpu_rewrite(x, kp, **kw) or functools.partial(lax.conv_general_dilated, **kw))(x, kp)
  y = y.reshape(n, qh, qw, sh, sw, o).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, qh * sh, qw * sw, o)[:, :out_h, :out_w]


def conv_bias_act(x, kernel, bias, activation: str | None = None):
  """activation(conv(x, kernel) + bias), 'SAME' padding, stride 1: NHWC (N, H, W, C) x HWIO
  (KH, KW, C, O) + (O,) -> (N, H, W, O); `activation` a `layers.ACTIVATIONS` name or None.
  `x` may be a tuple of NHWC arrays: the convolution of their channel concatenation (C their
  channels' sum, in order), e.g. a U-Net's upsampled features and skip.

  On CPU with the oneDNN extension, a float32 ReLU (or no activation) convolution that
  `conv_general_dilated` would give to oneDNN runs as one oneDNN call with the bias and the
  ReLU as post-ops (`native.conv.conv_bias`): no separate XLA pass over the output for them;
  that of two concatenated inputs never forms the concatenation (`native.conv.
  conv_concat_bias`). Everywhere else it is `conv_general_dilated` (of the concatenation),
  then the bias and the activation."""
  xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
  act = (lambda y: y) if activation is None else layers.activation(activation)
  dn = ("NHWC", "HWIO", "NHWC")

  def unfused(*operands):  # (*inputs, kernel, bias)
    *inputs, k, b = operands
    z = inputs[0] if len(inputs) == 1 else jnp.concatenate(inputs, axis=-1)
    return act(conv_general_dilated(z, k, (1, 1), "SAME", dimension_numbers=dn) + b)

  if len(xs) > 1 and any(x.ndim != 4 or x.shape[:3] != xs[0].shape[:3] for x in xs):
    raise ValueError(f"conv_bias_act: inputs to concatenate must be NHWC of one N, H, W; got "
                     f"{[x.shape for x in xs]}")
  whole = jax.ShapeDtypeStruct((*xs[0].shape[:-1], sum(x.shape[-1] for x in xs)),
                               jnp.result_type(*xs))
  spec = None
  # Windows larger than the input stay on conv_general_dilated's im2col rewrite.
  if (activation in (None, "relu") and whole.ndim == 4 and len(xs) <= 2
      and jnp.dtype(bias.dtype) == jnp.float32
      and all(x.dtype == whole.dtype for x in xs)
      and all(k <= n for k, n in zip(kernel.shape[:2], whole.shape[1:3]))):
    pads = lax.padtype_to_pads(whole.shape[1:3], kernel.shape[:2], (1, 1), "SAME")
    spec = _onednn_spec(whole, kernel, (1, 1), pads, (1, 1))
  if spec is None:
    return unfused(*xs, kernel, bias)
  relu = activation == "relu"
  fused = (lambda x, k, b: onednn_conv.conv_bias(x, k, b, spec, relu)) if len(xs) == 1 else (
      lambda x0, x1, k, b: onednn_conv.conv_concat_bias(x0, x1, k, b, spec, relu))
  return lax.platform_dependent(*xs, kernel, bias, cpu=fused, default=unfused)


class ConvAct(nn.Module):
  """A 'SAME' stride-1 convolution with a bias, then `activation`: the parameters (`kernel`
  (KH, KW, C, features), `bias` (features,)), initialisation and result of `Conv` (use_bias)
  followed by the activation, computed by `conv_bias_act` (one fused oneDNN call on CPU for
  a ReLU). NHWC in, NHWC out; `dtype` as `flax.linen.Conv`'s. Called on a tuple of NHWC
  arrays it is the same layer applied to their channel concatenation (C = their channels'
  sum; the same parameters), computed without forming it where oneDNN runs it."""
  features: int
  kernel_size: Sequence[int]
  activation: str | None = None
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array | tuple[jax.Array, ...]) -> jax.Array:
    return conv_bias_act(*_kernel_and_bias(self, x, use_bias=True), self.activation)


def _kernel_and_bias(m: nn.Module, x, use_bias: bool):
  """(x, kernel, bias) of a Conv-like module `m` (fields features, kernel_size, dtype,
  param_dtype, kernel_init, bias_init), created as Flax's Conv creates them: `kernel`
  (kh, kw, C, features), then `bias` (features,) or None; promoted together to `m.dtype`.
  `x` NHWC, or a tuple of NHWC arrays (returned as a tuple) whose channels add up to C."""
  xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
  if any(a.ndim != 4 for a in xs):
    raise ValueError(f"{type(m).__name__} expects NHWC input, got shape(s) "
                     f"{', '.join(str(a.shape) for a in xs)}.")
  c = sum(a.shape[-1] for a in xs)
  kernel = m.param("kernel", m.kernel_init, (*m.kernel_size, c, m.features), m.param_dtype)
  bias = m.param("bias", m.bias_init, (m.features,), m.param_dtype) if use_bias else None
  *xs, kernel, bias = nn.dtypes.promote_dtype(*xs, kernel, bias, dtype=m.dtype)
  return (tuple(xs) if isinstance(x, (tuple, list)) else xs[0]), kernel, bias


Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
Conv.__doc__ = "`flax.linen.Conv` computed with `conv_general_dilated` of this module."


def _transpose_pads(k: int, s: int, padding) -> tuple[int, int]:
  """Padding of the dilated convolution behind a transposed one (`lax.conv_transpose` rules)."""
  if padding == "SAME":
    total = k + s - 2
    lo = k - 1 if s > k - 1 else math.ceil(total / 2)
  elif padding == "VALID":
    total = k + s - 2 + max(k - s, 0)
    lo = k - 1
  else:
    return tuple(padding)
  return lo, total - lo


class ConvTranspose(nn.Module):
  """Transposed 2-D convolution, NHWC: parameters and output of `flax.linen.ConvTranspose`.

  `padding` is 'SAME', 'VALID' or ((lo, hi), (lo, hi)) given, as for
  `lax.conv_transpose`, for the underlying convolution of the dilated input.
  Output (N, H', W', features); H' = H * stride for 'SAME'.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    ks = tuple(self.kernel_size)
    strides = tuple(self.strides)
    x, kernel, bias = _kernel_and_bias(self, x, self.use_bias)
    if isinstance(self.padding, str):
      pads = tuple(_transpose_pads(k, s, self.padding) for k, s in zip(ks, strides))
    else:
      pads = tuple(tuple(p) for p in self.padding)

    def unfused(x, k, b=None):
      y = conv_general_dilated(x, k, (1, 1), pads, lhs_dilation=strides,
                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
      return y if b is None else y + b

    fused = None
    if (bias is not None and x.dtype == kernel.dtype == bias.dtype == jnp.float32
        and max(strides) > 1 and min(min(p) for p in pads) >= 0):
      fused = _onednn_transposed(x, kernel, strides, pads, with_bias=True)
    if fused is None:
      return unfused(x, kernel, bias)
    return lax.platform_dependent(x, kernel, bias, cpu=fused, default=unfused)
