"""PyTorch modules equivalent to ours, written for the benchmarks (NCHW, eager).

Each mirrors the layer shapes of the Flax model of the same name (same
parameter count, checked by `train_step.py`): `DnCNN` (models/dncnn.py),
`UNet` (models/unet.py), `SRCNN` (models/sr.py, 1-channel / Y input) and
`MIRNet` (models/mirnet.py, any n_feat / n_rrg / n_mrb / height / width, shared
DAUs and resamplers as in the authors' code). Only the forward graph matters for
timing; initialisation is PyTorch's default.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DnCNN(nn.Module):
  """conv+relu, (depth-2) x [conv, BN, relu], conv; returns x - net(x). No biases."""

  def __init__(self, channels: int = 1, depth: int = 17, features: int = 64):
    super().__init__()
    layers = [nn.Conv2d(channels, features, 3, padding=1, bias=False), nn.ReLU(inplace=True)]
    for _ in range(depth - 2):
      layers += [nn.Conv2d(features, features, 3, padding=1, bias=False),
                 nn.BatchNorm2d(features, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(features, channels, 3, padding=1, bias=False))
    self.body = nn.Sequential(*layers)

  def forward(self, x):
    return x - self.body(x)


class _Block(nn.Sequential):
  def __init__(self, cin: int, cout: int):
    super().__init__(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                     nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
  """`depth` x (block, 2x2 max-pool), bottleneck, `depth` x (2x2 stride-2
  transposed conv, concat skip, block), 1x1 conv out (reflect-padded to 2**depth)."""

  def __init__(self, channels: int = 3, out_channels: int = 3, features: int = 32,
               depth: int = 5):
    super().__init__()
    self.depth = depth
    f = [features * 2 ** i for i in range(depth + 1)]
    self.down = nn.ModuleList(_Block(channels if i == 0 else f[i - 1], f[i]) for i in range(depth))
    self.bottleneck = _Block(f[depth - 1], f[depth])
    self.upconv = nn.ModuleList(nn.ConvTranspose2d(f[i + 1], f[i], 2, stride=2)
                                for i in range(depth))
    self.up = nn.ModuleList(_Block(2 * f[i], f[i]) for i in range(depth))
    self.out = nn.Conv2d(f[0], out_channels, 1)

  def forward(self, x):
    h, w = x.shape[-2:]
    m = 2 ** self.depth
    z = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="reflect") if (h % m or w % m) else x
    skips = []
    for i in range(self.depth):
      z = self.down[i](z)
      skips.append(z)
      z = F.max_pool2d(z, 2)
    z = self.bottleneck(z)
    for i in reversed(range(self.depth)):
      z = self.up[i](torch.cat([self.upconv[i](z), skips[i]], dim=1))
    return self.out(z)[..., :h, :w]


class SRCNN(nn.Module):
  """Three convs (9-5-5, 64-32 features) with replicate padding, on one channel."""

  def __init__(self, channels: int = 1, kernel_sizes=(9, 5, 5), features=(64, 32)):
    super().__init__()
    c = [channels, *features, channels]
    self.convs = nn.ModuleList(nn.Conv2d(c[i], c[i + 1], k) for i, k in enumerate(kernel_sizes))

  def forward(self, x):
    for i, conv in enumerate(self.convs):
      k = conv.kernel_size[0]
      x = conv(F.pad(x, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2), mode="replicate"))
      if i < len(self.convs) - 1:
        x = F.relu(x)
    return x


# ----------------------------------------------------------------------------- MIRNet

def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
  return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)


class _Blur(nn.Module):
  """Binomial [1, 2, 1]^2/16 blur (reflect padding), stride 2, per channel."""

  def __init__(self):
    super().__init__()
    t = torch.tensor([0.25, 0.5, 0.25])
    self.register_buffer("k", (t[:, None] * t[None, :])[None, None])

  def forward(self, x):
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.k.expand(c, 1, 3, 3),
                    stride=2, groups=c)


class SKFF(nn.Module):
  def __init__(self, c: int, streams: int, reduction: int = 8):
    super().__init__()
    d = max(c // reduction, 4)
    self.conv_du = nn.Sequential(_conv(c, d, 1), nn.PReLU(1, 0.25))
    self.fcs = nn.ModuleList(_conv(d, c, 1) for _ in range(streams))

  def forward(self, xs):
    z = self.conv_du(sum(xs).mean(dim=(2, 3), keepdim=True))
    w = torch.softmax(torch.stack([fc(z) for fc in self.fcs[:len(xs)]]), dim=0)
    return sum(w[i] * x for i, x in enumerate(xs))


class DAU(nn.Module):
  def __init__(self, c: int, reduction: int = 8):
    super().__init__()
    self.body = nn.Sequential(_conv(c, c, 3), nn.PReLU(1, 0.25), _conv(c, c, 3))
    self.sa = _conv(2, 1, 5)
    self.ca = nn.Sequential(_conv(c, max(c // reduction, 1), 1), nn.ReLU(inplace=True),
                            _conv(max(c // reduction, 1), c, 1))
    self.conv1x1 = _conv(2 * c, c, 1)

  def forward(self, x):
    r = self.body(x)
    pooled = torch.cat([r.amax(dim=1, keepdim=True), r.mean(dim=1, keepdim=True)], 1)
    sa = r * torch.sigmoid(self.sa(pooled))
    ca = r * torch.sigmoid(self.ca(r.mean(dim=(2, 3), keepdim=True)))
    return x + self.conv1x1(torch.cat([sa, ca], 1))


class _Down(nn.Module):
  def __init__(self, c: int, f: int):
    super().__init__()
    self.top = nn.Sequential(_conv(c, c, 1), nn.PReLU(1, 0.25), _conv(c, c, 3), nn.PReLU(1, 0.25),
                             _Blur(), _conv(c, c * f, 1))
    self.bot = nn.Sequential(_Blur(), _conv(c, c * f, 1))

  def forward(self, x):
    return self.top(x) + self.bot(x)


class _Up(nn.Module):
  def __init__(self, c: int, f: int):
    super().__init__()
    self.top = nn.Sequential(
        _conv(c, c, 1), nn.PReLU(1, 0.25),
        nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1, bias=False),
        nn.PReLU(1, 0.25), _conv(c, c // f, 1))
    self.bot = _conv(c, c // f, 1)

  def forward(self, x):
    b = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return self.top(x) + self.bot(b)


def _resample(c: int, steps: int, down: bool, f: int) -> nn.Sequential:
  mods = []
  for _ in range(steps):
    mods.append(_Down(c, f) if down else _Up(c, f))
    c = c * f if down else c // f
  return nn.Sequential(*mods)


class MRB(nn.Module):
  """Multi-scale residual block with the same module sharing as models/mirnet.py."""

  def __init__(self, c: int, height: int = 3, width: int = 2, f: int = 2):
    super().__init__()
    self.height, self.width = height, width
    self.feats = [c * f ** j for j in range(height)]
    self.daus = nn.ModuleList(DAU(cj) for cj in self.feats)
    keys = {(j - 1, j) for j in range(1, height)}
    if width > 1:
      keys |= {(k, j) for j in range(height) for k in range(height) if k != j}
    self.resamplers = nn.ModuleDict()
    for k, j in sorted(keys):
      name = self._key(k, j)
      if name not in self.resamplers:
        self.resamplers[name] = _resample(self.feats[k], abs(j - k), j > k, f)
    self.skff = nn.ModuleList(SKFF(cj, height) for cj in self.feats)
    self.last_up = nn.ModuleList(_resample(self.feats[k], k, False, f) for k in range(1, height))
    self.conv_out = _conv(c, c, 3)

  def _key(self, k: int, j: int) -> str:
    return f"{'down' if j > k else 'up'}_{self.feats[k]}_{2 ** abs(j - k)}"

  def _resample(self, t, k: int, j: int):
    return t if k == j else self.resamplers[self._key(k, j)](t)

  def forward(self, x):
    outs, h = [], x
    for j in range(self.height):
      h = self.daus[j](h if j == 0 else self._resample(h, j - 1, j))
      outs.append(h)
    for _ in range(1, self.width):
      fused = [self.skff[j]([self._resample(outs[k], k, j) for k in range(self.height)])
               for j in range(self.height)]
      outs = [self.daus[j](fused[j]) for j in range(self.height)]
    last = [outs[0]] + [self.last_up[k - 1](outs[k]) for k in range(1, self.height)]
    return x + self.conv_out(self.skff[0](last))


class RRG(nn.Module):
  def __init__(self, c: int, n_mrb: int, height: int, width: int, f: int):
    super().__init__()
    self.body = nn.Sequential(*[MRB(c, height, width, f) for _ in range(n_mrb)])
    self.conv = _conv(c, c, 3)

  def forward(self, x):
    return x + self.conv(self.body(x))


class MIRNet(nn.Module):
  def __init__(self, channels: int = 3, n_feat: int = 64, n_rrg: int = 3, n_mrb: int = 2,
               height: int = 3, width: int = 2, chan_factor: int = 2):
    super().__init__()
    self.conv_in = _conv(channels, n_feat, 3)
    self.body = nn.Sequential(*[RRG(n_feat, n_mrb, height, width, chan_factor)
                                for _ in range(n_rrg)])
    self.conv_out = _conv(n_feat, channels, 3)

  def forward(self, x):
    return x + self.conv_out(self.body(self.conv_in(x)))


def build(name: str, channels: int, **kwargs) -> nn.Module:
  """The reference module for one of our model names."""
  cls = {"dncnn": DnCNN, "unet": UNet, "srcnn": SRCNN, "mirnet": MIRNet}[name]
  if name == "unet":
    kwargs.setdefault("out_channels", channels)
  return cls(channels=channels, **kwargs)


def num_params(module: nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())
