"""Super-resolution nets: SRCNN (on a bicubic-upsampled input); on the LR image:
ESPCN and SRResNet (as published) and `subpixel_sr` (our EDSR-style residual net)."""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.data import bicubic
from enhance_jax.data.color import rgb_to_ycbcr, ycbcr_to_rgb  # MATLAB rgb2ycbcr / ycbcr2rgb
from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


def _conv_padded(x, features, k, padding, name, dtype=jnp.float32,
                 kernel_init=nn.initializers.lecun_normal()):
  """A k x k conv keeping the size with 'replicate' (edge) or 'zero' padding."""
  if padding == "replicate":
    lo, hi = (k - 1) // 2, k // 2
    x = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode="edge")
    return Conv(features, (k, k), padding="VALID", dtype=dtype, name=name,
                kernel_init=kernel_init)(x)
  if padding == "zero":
    return Conv(features, (k, k), padding="SAME", dtype=dtype, name=name,
                kernel_init=kernel_init)(x)
  raise ValueError(f"srcnn: padding must be 'replicate' or 'zero', got {padding!r}.")


def _identity_init(channels: int, random_gain: float):
  """A kernel init (kh, kw, in, out) whose first `channels` outputs copy inputs 0..channels-1.

  Output channel i < channels gets a centred delta on input channel i (the kernel's
  centre tap: index (k - 1) // 2, the tap that sees pixel (y, x) under this module's
  padding) and zeros elsewhere; the other output channels are LeCun normal x
  `random_gain`. With inputs >= 0 and ReLU between layers the delta channels pass the
  input through every layer unchanged, so a net of such layers starts as the identity.
  """
  def init(key, shape, dtype=jnp.float32):
    kh, kw, cin, cout = shape
    w = random_gain * nn.initializers.lecun_normal()(key, shape, dtype)
    n = min(channels, cin, cout)
    idx = jnp.arange(n)
    w = w.at[:, :, :, :n].set(0.0)
    return w.at[(kh - 1) // 2, (kw - 1) // 2, idx, idx].set(1.0)
  return init


@register("srcnn")
class SRCNN(nn.Module):
  """SRCNN (Dong et al., 2014/2016): x NHWC in [0, 1], already bicubic-upsampled -> same size.

  Attributes:
    kernel_sizes: the three conv kernel sides, (9, 5, 5), (9, 3, 5) or (9, 1, 5).
    features: widths of conv1 and conv2 (64, 32).
    padding: 'replicate' (official `imfilter(..., 'replicate')`) or 'zero'.
    normalization: after conv1 and conv2 ('none' in the paper).
    color: 'y' = the net sees only the luma: a 3-channel input is converted with
      MATLAB `rgb2ycbcr`, Y is restored and Cb/Cr are kept from the input, the
      result is converted back to RGB; a 1-channel input is taken as Y.
      'all' = the net maps all C channels to C channels.
    kernel_init: a `layers.kernel_initializer` name for all three kernels (default
      'lecun_normal', Flax's; the paper's is N(0, 0.001)); biases start at zero. Or
      'identity' (our adaptation, the architecture unchanged): in conv1
      and conv2 the first C output channels (C = the net's input channels) are centred
      deltas copying input channel i to output channel i, the rest LeCun normal; conv3
      is the delta on its first C inputs and zero elsewhere. The inputs are >= 0 and
      the deltas pass ReLU, so the net starts as the identity (the bicubic image) and
      learns the correction, as a residual net (VDSR) does, without a skip connection.
  """
  kernel_sizes: Sequence[int] = (9, 5, 5)
  features: Sequence[int] = (64, 32)
  padding: str = "replicate"
  activation: str = "relu"
  normalization: str = "none"
  color: str = "y"
  kernel_init: str = "lecun_normal"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    c = x.shape[-1]
    if self.kernel_init == "identity":
      cy = 1 if self.color == "y" else c
      inits = [_identity_init(cy, 1.0), _identity_init(cy, 1.0), _identity_init(cy, 0.0)]
    else:
      inits = [layers.kernel_initializer(self.kernel_init)] * 3
    act = lambda h: layers.normalization(self.normalization, train, activation=self.activation)(h)
    k1, k2, k3 = self.kernel_sizes
    if self.color == "y" and c == 3:
      ycc = rgb_to_ycbcr(x)
      y = ycc[..., :1]
    elif self.color == "y" and c == 1 or self.color == "all":
      y = x
    else:
      raise ValueError(f"srcnn: color must be 'y' or 'all' (got {self.color!r}) "
                       f"and the input 1 or 3 channels (got {c}).")
    h = act(_conv_padded(y, self.features[0], k1, self.padding, "conv1", self.dtype, inits[0]))
    h = act(_conv_padded(h, self.features[1], k2, self.padding, "conv2", self.dtype, inits[1]))
    out = _conv_padded(h, y.shape[-1], k3, self.padding, "conv3", self.dtype,
                       inits[2]).astype(layers.output_dtype(x))
    if self.color == "y" and c == 3:
      return ycbcr_to_rgb(jnp.concatenate([out, ycc[..., 1:]], axis=-1))
    return out


class _ResBlock(nn.Module):
  features: int
  normalization: str
  activation: str
  res_scale: float
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    h = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype)(x)
    h = layers.normalization(self.normalization, train, activation=self.activation)(h)
    h = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype)(h)
    h = layers.normalization(self.normalization, train)(h)
    return x + self.res_scale * h


@register("subpixel_sr")
class SubPixelSR(nn.Module):
  """Our EDSR-style residual sub-pixel net (not a published architecture; for the
  published ones see `espcn` and `srresnet`) on the LR image:
  x (N, h, w, C) in [0, 1] -> (N, r*h, r*w, C).

  3x3 conv head -> `num_blocks` residual blocks (conv, [norm], act, conv, [norm],
  x res_scale) -> conv + head skip -> conv to C*r^2 channels ->
  `layers.pixel_shuffle`. With `upsample_skip` the bilinear upsampled input is
  added, so the net learns a residual.
  """
  scale: int = 2
  features: int = 64
  num_blocks: int = 8
  normalization: str = "none"
  activation: str = "relu"
  res_scale: float = 1.0
  out_channels: int | None = None
  upsample_skip: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    n, h, w, c = x.shape
    out_ch = self.out_channels or c
    r = self.scale
    head = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype, name="head")(x)
    body = head
    for i in range(self.num_blocks):
      body = _ResBlock(self.features, self.normalization, self.activation, self.res_scale,
                       self.dtype, name=f"block{i}")(body, train)
    if self.num_blocks:
      body = Conv(self.features, (3, 3), padding="SAME", dtype=self.dtype,
                  name="body_out")(body) + head
    else:
      body = layers.activation(self.activation)(body)
    up = Conv(out_ch * r * r, (3, 3), padding="SAME", dtype=self.dtype, name="to_subpixel")(body)
    out = layers.pixel_shuffle(up.astype(jnp.float32), r)
    if self.upsample_skip:
      if out_ch != c:
        raise ValueError(f"subpixel_sr: upsample_skip needs out_channels == input channels "
                         f"({out_ch} != {c}).")
      out = out + jax.image.resize(x, (n, h * r, w * r, c), method="bilinear")
    return out


class PReLU(nn.Module):
  """Parametric ReLU (He et al. 2015), one slope per channel, initialised to 0.25."""
  init_slope: float = 0.25

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    a = self.param("alpha", nn.initializers.constant(self.init_slope), (x.shape[-1],))
    return jnp.where(x >= 0, x, a.astype(x.dtype) * x)


def _luma_sr(net, x: jax.Array, color: str, scale: int, name: str) -> jax.Array:
  """Runs `net` on the luma only (color='y', 3-channel input: MATLAB rgb2ycbcr,
  Cb/Cr upscaled with MATLAB bicubic, back to RGB) or on all channels."""
  c = x.shape[-1]
  if color == "y" and c == 3:
    ycc = rgb_to_ycbcr(x)
    y = net(ycc[..., :1]).astype(jnp.float32)
    cbcr = bicubic.imresize(ycc[..., 1:], scale=scale)
    return ycbcr_to_rgb(jnp.concatenate([y, cbcr], axis=-1))
  if color == "y" and c == 1 or color == "all":
    return net(x).astype(jnp.float32)
  raise ValueError(f"{name}: color must be 'y' or 'all' (got {color!r}) and the input 1 or 3 "
                   f"channels (got {c}).")


@register("espcn")
class ESPCN(nn.Module):
  """ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using
  an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016), as in the
  paper: 5x5 conv to 64 - tanh, 3x3 conv to 32 - tanh, 3x3 conv to C*r^2 (no
  activation), periodic shuffle (`layers.pixel_shuffle`); 'SAME' zero padding.

  x: (N, h, w, C) in [0, 1] (the LR image) -> (N, r*h, r*w, C) float32, unclipped.
  color: 'y' (the paper: the net sees the MATLAB-YCbCr luma; for an RGB input
    Cb/Cr are upscaled with MATLAB bicubic) or 'all' (the net maps C -> C).
  Parameters (1-channel net, as in the paper): 5*5*64+64 + 3*3*64*32+32 +
  3*3*32*r^2+r^2 = 20,128 + 289*r^2, i.e. 21,284 (x2), 22,729 (x3), 24,752 (x4).
  """
  scale: int = 3
  features: Sequence[int] = (64, 32)
  kernel_sizes: Sequence[int] = (5, 3, 3)
  activation: str = "tanh"
  color: str = "y"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del train, extra
    act = layers.activation(self.activation)
    (f1, f2), (k1, k2, k3), r = self.features, self.kernel_sizes, self.scale

    def net(y):
      h = act(Conv(f1, (k1, k1), padding="SAME", dtype=self.dtype, name="conv1")(y))
      h = act(Conv(f2, (k2, k2), padding="SAME", dtype=self.dtype, name="conv2")(h))
      h = Conv(y.shape[-1] * r * r, (k3, k3), padding="SAME", dtype=self.dtype, name="conv3")(h)
      return layers.pixel_shuffle(h.astype(jnp.float32), r)

    return _luma_sr(net, x, self.color, r, "espcn")


class _SRResBlock(nn.Module):
  """conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity (SRGAN's generator)."""
  features: int
  normalization: str
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    bias = self.normalization in (None, "none", "")
    h = Conv(self.features, (3, 3), padding="SAME", use_bias=bias, dtype=self.dtype,
             name="conv1")(x)
    h = PReLU(name="prelu")(layers.normalization(self.normalization, train)(h))
    h = Conv(self.features, (3, 3), padding="SAME", use_bias=bias, dtype=self.dtype,
             name="conv2")(h)
    return x + layers.normalization(self.normalization, train)(h)


@register("srresnet")
class SRResNet(nn.Module):
  """SRResNet, the generator of SRGAN (Ledig et al., "Photo-Realistic Single Image
  Super-Resolution Using a Generative Adversarial Network", CVPR 2017, Fig. 4):

    9x9 conv to 64 - PReLU                                  (head)
    16 x [3x3 conv - BN - PReLU - 3x3 conv - BN, + input]   (residual blocks)
    3x3 conv - BN, + head output                             (long skip)
    log2(scale) x [3x3 conv to 256 - pixel shuffle x2 - PReLU]
    9x9 conv to C                                            (tail, no activation)

  Convs followed by BN have no bias (BN's offset replaces it); PReLU has one
  slope per channel (He et al.), initialised to 0.25. 'SAME' zero padding.
  x: (N, h, w, C) in [0, 1] (the LR image) -> (N, r*h, r*w, C) float32, unclipped.
  Parameters at the paper's size (C=3, x4): head 15,616 + 64; blocks 16 x
  (2 x 36,864 + 2 x 128 + 64) = 1,184,768; long skip 36,864 + 128; upsamplers
  2 x (147,456 + 256 + 64) = 295,552; tail 15,555: 1,548,547 in all (plus the
  BN running statistics, 33 x 128 = 4,224).
  """
  scale: int = 4
  features: int = 64
  num_blocks: int = 16
  normalization: str = "batch"
  out_channels: int | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False, **extra) -> jax.Array:
    del extra
    r, f = self.scale, self.features
    if r < 2 or r & (r - 1):
      raise ValueError(f"srresnet: scale must be a power of two (x2 sub-pixel steps), got {r}.")
    bias = self.normalization in (None, "none", "")
    head = PReLU(name="head_prelu")(Conv(f, (9, 9), padding="SAME", dtype=self.dtype,
                                         name="head")(x))
    h = head
    for i in range(self.num_blocks):
      h = _SRResBlock(f, self.normalization, self.dtype, name=f"block{i}")(h, train)
    h = Conv(f, (3, 3), padding="SAME", use_bias=bias, dtype=self.dtype, name="body_out")(h)
    h = layers.normalization(self.normalization, train)(h) + head
    for i in range(int(np.log2(r))):
      h = Conv(f * 4, (3, 3), padding="SAME", dtype=self.dtype, name=f"up{i}")(h)
      h = PReLU(name=f"up{i}_prelu")(layers.pixel_shuffle(h, 2))
    out = Conv(self.out_channels or x.shape[-1], (9, 9), padding="SAME", dtype=self.dtype,
               name="tail")(h)
    return out.astype(jnp.float32)
