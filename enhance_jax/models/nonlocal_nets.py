"""Non-local operations: `NonLocalBlock`, a DnCNN with a non-local block, and NLRN.

References: Wang et al., "Non-local Neural Networks", CVPR 2018 (embedded
Gaussian block); Liu et al., "Non-Local Recurrent Network for Image
Restoration", NeurIPS 2018 (NLRN). All tensors are NHWC float32.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register

_NEG = -1e9  # logit given to padded (invalid) key positions


def _starts(n: int, size: int, stride: int) -> list[int]:
  """Patch offsets along a side of n: every `stride`, the last flush with the end."""
  starts = list(range(0, n - size + 1, stride))
  return starts if starts[-1] == n - size else starts + [n - size]


def _to_windows(x: jax.Array, wh: int, ww: int) -> jax.Array:
  """(B, H, W, C) with H % wh == W % ww == 0 -> (B * nh * nw, wh * ww, C)."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // wh, wh, w // ww, ww, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b * (h // wh) * (w // ww), wh * ww, c)


def _from_windows(x: jax.Array, b: int, h: int, w: int, wh: int, ww: int) -> jax.Array:
  """Inverse of `_to_windows`: (B * nh * nw, wh * ww, C) -> (B, H, W, C)."""
  c = x.shape[-1]
  x = x.reshape(b, h // wh, w // ww, wh, ww, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h, w, c)


def _pool2(x: jax.Array, valid: jax.Array, wh: int, ww: int):
  """2x2 max-pool inside each window of (Bw, wh*ww, C) features.

  Invalid (padded) positions never win the max; a pooled position is valid if
  any of its 2x2 inputs is. Odd window sides are padded with invalid positions.
  Returns the pooled features (Bw, ceil(wh/2)*ceil(ww/2), C) and validity.
  """
  bw, _, c = x.shape
  x = x.reshape(bw, wh, ww, c)
  v = jnp.broadcast_to(valid.reshape(-1, wh, ww, 1), (bw, wh, ww, 1))
  ph, pw = wh % 2, ww % 2
  x = jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)))
  v = jnp.pad(v, ((0, 0), (0, ph), (0, pw), (0, 0)))
  h2, w2 = (wh + ph) // 2, (ww + pw) // 2
  x = jnp.where(v, x, -jnp.inf).reshape(bw, h2, 2, w2, 2, c).max(axis=(2, 4))
  v = v.reshape(bw, h2, 2, w2, 2, 1).any(axis=(2, 4))
  x = jnp.where(v, x, 0.0)
  return x.reshape(bw, h2 * w2, c), v.reshape(bw, h2 * w2)


class NonLocalBlock(nn.Module):
  """Embedded-Gaussian non-local block with a residual connection.

  z = x + norm(W(softmax_j(theta(x_i) . phi(x_j) [+ corr]) g(x_j))), with
  theta/phi/g 1x1 convs to `inter_channels` (default C/2) and W a 1x1 conv back
  to C. The block is the identity at init, as in the reference code of Wang et
  al.: without `norm`, W's kernel (and bias) start at zero; with `norm` (e.g.
  'batch', applied after W) W keeps its ordinary init and the norm's scale
  starts at zero, so W receives gradients from the first step. With
  `use_output_proj=False` there is no W and g maps straight to C (NLRN's
  variant), zero-initialised unless a norm (zero scale) follows.

  `window=None` attends over all H*W positions (memory O((HW)^2)); an int q
  restricts attention to non-overlapping q x q windows (the image is
  zero-padded to a multiple of q and padded keys are masked out), which keeps
  memory at O(HW q^2). `subsample=True` 2x2 max-pools phi and g (inside each
  window). No 1/sqrt(d) scaling, as in Wang et al.

  Correlation propagation (NLRN): `corr` (Bw, Nq, Nk) pre-softmax logits from a
  previous call are added to this call's logits; with `return_corr=True` the
  block returns (z, logits + corr) so the caller can pass them on. The same
  input size, window and subsampling must be used between calls.

  `dtype` is the compute dtype of the convs; logits and softmax are float32.
  x: (B, H, W, C) features (any range) -> (B, H, W, C).
  """
  inter_channels: int | None = None
  window: int | None = None
  subsample: bool = False
  use_output_proj: bool = True
  norm: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, corr: jax.Array | None = None, *, train: bool = False,
               return_corr: bool = False):
    b, h, w, c = x.shape
    ci = self.inter_channels or max(c // 2, 1)
    conv = functools.partial(Conv, kernel_size=(1, 1), dtype=self.dtype)
    theta = conv(ci, name="theta")(x)
    phi = conv(ci, name="phi")(x)
    has_norm = self.norm not in (None, "none", "")
    # The last linear map of the branch starts at zero unless a zero-scale norm follows it.
    last_init = {} if has_norm else dict(kernel_init=nn.initializers.zeros)
    if self.use_output_proj:
      g = conv(ci, name="g")(x)
    else:
      g = conv(c, name="g", **last_init)(x)

    if self.window is None:
      wh, ww, hp, wp = h, w, h, w
    else:
      wh = ww = int(self.window)
      hp, wp = -(-h // wh) * wh, -(-w // ww) * ww
    pad = ((0, 0), (0, hp - h), (0, wp - w), (0, 0))
    valid = jnp.pad(jnp.ones((1, h, w, 1), bool), pad)
    theta, phi, g = (_to_windows(jnp.pad(t, pad), wh, ww) for t in (theta, phi, g))
    kvalid = _to_windows(valid, wh, ww)[..., 0]  # (nh*nw, wh*ww)
    kvalid = jnp.tile(kvalid, (b, 1))
    if self.subsample:
      phi, _ = _pool2(phi, kvalid, wh, ww)
      g, kvalid = _pool2(g, kvalid, wh, ww)

    logits = jnp.einsum("bqc,bkc->bqk", theta, phi, preferred_element_type=jnp.float32)
    if corr is not None:
      logits = logits + corr
    attn = jax.nn.softmax(jnp.where(kvalid[:, None, :], logits, _NEG), axis=-1)
    y = jnp.einsum("bqk,bkc->bqc", attn.astype(g.dtype), g)
    y = _from_windows(y, b, hp, wp, wh, ww)[:, :h, :w]
    if self.use_output_proj:
      y = conv(c, name="W", **last_init)(y)
    y = layers.normalization(self.norm, train, scale_init="zeros")(y)
    z = x + y
    return (z, logits) if return_corr else z


@register("nonlocal_cnn")
class NonLocalCNN(nn.Module):
  """DnCNN-style residual denoiser with a `NonLocalBlock` after layer depth // 2.

  conv-act, (depth - 2) x conv-norm-act (the non-local block sits in the
  middle), conv to C; returns x - predicted noise.
  x: (B, H, W, C) in [0, 1] -> (B, H, W, C) float32, unclipped.
  """
  features: int = 64
  depth: int = 17
  normalization: str | None = "batch"
  activation: str = "relu"
  nl_window: int | None = None
  nl_subsample: bool = False
  nl_inter_channels: int | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    act = layers.activation(self.activation)
    use_bias = self.normalization in (None, "none", "")
    conv = functools.partial(Conv, kernel_size=(3, 3), dtype=self.dtype)
    h = act(conv(self.features, name="conv_in")(x))
    for i in range(1, self.depth - 1):
      h = conv(self.features, use_bias=use_bias, name=f"conv{i}")(h)
      h = layers.normalization(self.normalization, train, activation=self.activation)(h)
      if i == self.depth // 2:
        h = NonLocalBlock(self.nl_inter_channels, self.nl_window, self.nl_subsample,
                          dtype=self.dtype, name="nonlocal")(h, train=train)
    noise = conv(x.shape[-1], name="conv_out")(h)
    return x - noise.astype(jnp.float32)


@register("nlrn")
class NLRN(nn.Module):
  """Non-Local Recurrent Network (Liu et al. 2018), following the authors' code.

  norm(x) -> conv3x3 to `features` = y; s_0 = y; for t in 1..steps:
    s_t = y + conv_b(act(norm(conv_a(norm(NL(act(norm(s_{t-1})), corr_{t-1}))))))
  then norm-act-conv3x3 to C, added to x (residual learning of the noise).
  The non-local block (theta/phi to `inter_channels`, g straight to `features`
  zero-initialised, no W) and the convs are shared across steps; the norm
  layers are not (as in the authors' TensorFlow code). Correlation propagation
  (the paper's): the pre-softmax logits of step t-1 are added to those of step
  t (`propagate_corr=False` disables it; the released code's block does not add
  them, its README lists pretrained models with and without).

  Defaults = the authors' scheme (Ding-Liu/NLRN, models/nlrn.py and
  datasets/denoise.py): 128 features, 12 steps, 64 inter channels; training
  (`train=True`) on 43x43 patches with attention over the whole patch
  (`window=None`; the code's q x q field branch is switched off); inference
  (`train=False`) cuts the image into overlapping `test_patch` x `test_patch`
  = 43x43 patches every `test_stride` = 7 pixels (the last one flush with the
  border), runs the net on them (`test_batch` patches per forward pass; the
  authors run one at a time) and averages the overlapping outputs: no window
  borders, hence no seams. An image no larger than test_patch is run whole.
  `clip_output` (default True) clips each inference output to [0, 1] before
  averaging, as the authors' exported predictions (`tf.clip_by_value(net, 0,
  1)`); the training output, on which their loss is taken, is never clipped.
  `test_patch=None` runs the whole image at once (memory O((HW)^2)).

  `window=q` (ours, not the paper's; an adaptation): attention restricted to
  fixed non-overlapping q x q tiles of the image (zero-padded, padded keys
  masked). The paper's q x q neighbourhood slides with each pixel; fixed tiles
  leave visible seams at their borders at test time. Kept for cheap CPU runs
  on whole images (use it with `test_patch=None`).
  x: (B, H, W, C) in [0, 1] -> (B, H, W, C) float32 (in [0, 1] at inference
  with clip_output, otherwise unclipped).
  """
  features: int = 128
  steps: int = 12
  inter_channels: int = 64
  window: int | None = None          # ours, not the paper's: fixed non-overlapping tiles
  normalization: str | None = "batch"
  activation: str = "relu"
  input_norm: bool = True
  propagate_corr: bool = True
  test_patch: int | None = 43        # the authors' training and test patch side
  test_stride: int = 7               # the authors' test stride
  clip_output: bool = True           # clip inference outputs to [0, 1] (the authors' predictions)
  test_batch: int = 32               # patches per inference forward pass (memory); 0 = all
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    b, h, w, c = x.shape
    p = self.test_patch
    tiled = not train and p is not None and (h > p or w > p)
    if tiled:
      ph, pw = min(p, h), min(p, w)
      corners = [(i, j) for i in _starts(h, ph, self.test_stride)
                 for j in _starts(w, pw, self.test_stride)]
      x_all = x
      x = jnp.concatenate([x[:, i:i + ph, j:j + pw] for i, j in corners])  # (P*B, ph, pw, C)
    n, cb = x.shape[0], self.test_batch
    if tiled and 0 < cb < n:
      # The first chunk creates (init) or reads the parameters; the others run the same net
      # with them, one chunk at a time (each 43x43 patch holds 1849^2 attention logits).
      first = self._net(x[:cb], train)
      rest = jnp.pad(x[cb:], ((0, -(n - cb) % cb), (0, 0), (0, 0), (0, 0)))
      rest = rest.reshape(-1, cb, *x.shape[1:])
      plain = self.clone(parent=None, test_patch=None, clip_output=False)  # = self._net
      variables = self.variables
      run = lambda xc: plain.apply(variables, xc, train=False)
      out = jnp.concatenate([first, jax.lax.map(run, rest).reshape(-1, *x.shape[1:])])[:n]
    else:
      out = self._net(x, train)
    if self.clip_output and not train:
      out = jnp.clip(out, 0.0, 1.0)
    if not tiled:
      return out
    total = jnp.zeros((b, h, w, c), jnp.float32)
    count = np.zeros((1, h, w, 1), np.float32)
    for k, (i, j) in enumerate(corners):
      total = total.at[:, i:i + ph, j:j + pw].add(out[k * b:(k + 1) * b] - x_all[:, i:i + ph,
                                                                                j:j + pw])
      count[:, i:i + ph, j:j + pw] += 1.0
    return x_all + total / count

  def _net(self, x: jax.Array, train: bool) -> jax.Array:
    act = layers.activation(self.activation)
    norm = lambda: layers.normalization(self.normalization, train)  # a fresh layer per call
    conv = functools.partial(Conv, kernel_size=(3, 3), dtype=self.dtype)
    h = norm()(x) if self.input_norm else x
    y = conv(self.features, name="conv_in")(h)
    # Created once, called every step: shared weights.
    nl = NonLocalBlock(self.inter_channels, self.window, use_output_proj=False, dtype=self.dtype,
                       name="nonlocal")
    conv_a = conv(self.features, name="conv_a")
    conv_b = conv(self.features, name="conv_b")
    s, corr = y, None
    for _ in range(self.steps):
      h = act(norm()(s))
      h, new_corr = nl(h, corr, train=train, return_corr=True)
      corr = new_corr if self.propagate_corr else None
      h = conv_a(norm()(h))
      h = conv_b(act(norm()(h)))
      s = h + y
    r = conv(x.shape[-1], name="conv_out")(act(norm()(s)))
    return x + r.astype(jnp.float32)
