"""FID and KID: the FID Inception-v3 (pool3, 2048-d) in Flax, streaming feature
statistics, the Frechet distance and the polynomial-kernel KID.

The network is the one of TF FID / pytorch-fid (`FIDInceptionA/C/E_1/E_2`):
torchvision Inception-v3 layout, BatchNorm eps 1e-3, average pools inside the
A, C and E_1 blocks exclude padding, the last block (E_2) max-pools its pool
branch. Input NHWC RGB in [0, 1] is resized to 299x299 (bilinear, half-pixel
centres, no antialiasing, as torch `interpolate(..., align_corners=False)`),
scaled to [-1, 1], and the global average of Mixed_7c gives the 2048 features.

Weights (user-provided; nothing is downloaded):
  * `.npz` (`save_npz`): keys `params/<module path>/<leaf>` and
    `batch_stats/<module path>/<leaf>`, the module path mirroring torchvision
    names, e.g. `params/Conv2d_1a_3x3/conv/kernel` (3, 3, 3, 32; HWIO),
    `params/Mixed_5b/branch1x1/bn/scale` and `.../bias`,
    `batch_stats/Mixed_5b/branch1x1/bn/mean` and `.../var`.
  * pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (keys
    `Mixed_5b.branch1x1.conv.weight`, `...bn.weight/bias/running_mean/running_var`),
    read without torch; `fc.*` is ignored. `convert_torch_file(src, dst)`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.metrics import vgg
from enhance_jax.models.convolution import Conv

log = logging.getLogger(__name__)

FEATURE_DIM = 2048
INPUT_SIZE = 299


# ------------------------------------------------------------------ network ----

class BasicConv(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 1e-3, inference statistics) -> ReLU."""
  features: int
  kernel: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = Conv(self.features, self.kernel, self.strides, padding=((ph, ph), (pw, pw)),
             use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
  """(n_out, n_in) weights of torch `interpolate(mode='bilinear', align_corners=False)`
  along one axis: source x = (i + 0.5) n_in / n_out - 0.5, clamped at 0; the upper
  neighbour is clamped at the last pixel (no antialiasing when shrinking)."""
  src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
  i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
  i1 = np.minimum(i0 + 1, n_in - 1)
  frac = src - i0
  m = np.zeros((n_out, n_in))
  np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
  np.add.at(m, (np.arange(n_out), i1), frac)
  return m


def resize_bilinear(x: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """NHWC -> (N, size, size, C) as torch bilinear (align_corners=False), the
  pytorch-fid resize. Weights are float64-built matrices (static shapes)."""
  mh = jnp.asarray(_bilinear_matrix(x.shape[1], size), x.dtype)
  mw = jnp.asarray(_bilinear_matrix(x.shape[2], size), x.dtype)
  return jnp.einsum("oh,nhwc,pw->nopc", mh, x, mw, precision=jax.lax.Precision.HIGHEST)


def _avg_pool3(x):
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool3(x, stride=2, pad=0):
  return nn.max_pool(x, (3, 3), (stride, stride), ((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), (2, 2), name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), (2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool3(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), (2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), (2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool3(x)], axis=-1)


class InceptionE(nn.Module):
  """E_1 (avg pool without padding in the count) or E_2 (`max_pool=True`)."""
  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
    pooled = _max_pool3(x, 1, 1) if self.max_pool else _avg_pool3(x)
    bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3FID(nn.Module):
  """FID Inception-v3 up to pool3: NHWC RGB in [0, 1] -> (N, 2048).

  `resize=False` skips the 299x299 resize (the input must then be >= 75x75).
  """
  resize: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    if self.resize and x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
      x = resize_bilinear(x, INPUT_SIZE)
    x = 2.0 * x - 1.0
    x = BasicConv(32, (3, 3), (2, 2), name="Conv2d_1a_3x3")(x)
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool3(x)
    x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool3(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(False, name="Mixed_7b")(x)
    x = InceptionE(True, name="Mixed_7c")(x)
    return jnp.mean(x, axis=(1, 2))


def _variable_shapes() -> dict:
  return jax.eval_shape(lambda: InceptionV3FID(resize=False).init(
      jax.random.key(0), jnp.zeros((1, 75, 75, 3))))


def init_variables(seed: int = 0) -> dict:
  """Random variables {'params', 'batch_stats'} (tests): He-normal kernels,
  BatchNorm with unit scale/variance and small bias/mean (see `vgg.random_like`)."""
  return vgg.random_like(_variable_shapes(), seed)


@jax.jit
def _forward(variables, images):
  return InceptionV3FID().apply(variables, images)


def inception_features(variables: Mapping, images: np.ndarray | Iterable[np.ndarray],
                       batch_size: int = 32) -> np.ndarray:
  """Pool3 features (M, 2048) float64 of NHWC images in [0, 1] (an array or an
  iterable of NHWC batches). The last short batch is padded so one shape compiles."""
  batches = ([images[i:i + batch_size] for i in range(0, len(images), batch_size)]
             if isinstance(images, np.ndarray) else images)
  out = []
  for b in batches:
    b = np.asarray(b, np.float32)
    n = len(b)
    if isinstance(images, np.ndarray) and n < batch_size:
      b = np.concatenate([b, np.zeros((batch_size - n, *b.shape[1:]), b.dtype)])
    out.append(np.asarray(_forward(variables, b), np.float64)[:n])
  return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def compute_stats(variables: Mapping, batches: Iterable[np.ndarray]) -> FeatureStats:
  """Streams NHWC batches in [0, 1] through the network into `FeatureStats`."""
  stats = FeatureStats.empty()
  for b in batches:
    stats = stats.update(np.asarray(_forward(variables, np.asarray(b, np.float32)), np.float64))
  return stats


def fid_score(variables: Mapping, images_a: Iterable[np.ndarray],
              images_b: Iterable[np.ndarray]) -> float:
  """FID between two streams of NHWC batches in [0, 1]."""
  a, b = compute_stats(variables, images_a), compute_stats(variables, images_b)
  return frechet_distance(a.mean, a.cov, b.mean, b.cov)


# ------------------------------------------------------------- weight files ----

_BN_LEAVES = {"weight": ("params", "scale"), "bias": ("params", "bias"),
              "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


def variables_from_torch(state_dict: Mapping[str, np.ndarray], source: str = "state dict") -> dict:
  """pytorch-fid / torchvision Inception state dict -> {'params', 'batch_stats'}."""
  out: dict = {"params": {}, "batch_stats": {}}
  for key, v in state_dict.items():
    parts = key.split(".")
    if parts[0] in ("fc", "AuxLogits") or parts[-1] == "num_batches_tracked":
      continue
    mods, kind, leaf = parts[:-2], parts[-2], parts[-1]
    v = np.asarray(v, np.float32)
    if kind == "conv" and leaf == "weight":
      coll, name, v = "params", "kernel", np.ascontiguousarray(v.transpose(2, 3, 1, 0))
      mods = mods + ["conv"]
    elif kind == "bn" and leaf in _BN_LEAVES:
      coll, name = _BN_LEAVES[leaf]
      mods = mods + ["bn"]
    else:
      raise ValueError(f"{source}: unexpected key {key!r} for the FID Inception.")
    node = out[coll]
    for m in mods:
      node = node.setdefault(m, {})
    node[name] = v
  check_variables(out, source)
  return out


def check_variables(variables: Mapping, source: str) -> None:
  """Raises ValueError listing parameters missing or of the wrong shape."""
  expected = _variable_shapes()
  want = {jax.tree_util.keystr(p): tuple(s.shape)
          for p, s in jax.tree_util.tree_flatten_with_path(expected)[0]}
  got = {jax.tree_util.keystr(p): tuple(np.shape(s))
         for p, s in jax.tree_util.tree_flatten_with_path(dict(variables))[0]}
  problems = [f"{k} missing" for k in want if k not in got]
  problems += [f"{k} shape {got[k]} != {want[k]}" for k in want if k in got and got[k] != want[k]]
  problems += [f"{k} unexpected" for k in got if k not in want]
  if problems:
    raise ValueError(f"{source}: does not fit the FID Inception ({len(problems)} problems): "
                     + "; ".join(problems[:5]))


def load_variables(path: str | os.PathLike) -> dict:
  """FID Inception variables from our `.npz` or pytorch-fid's `.pth` (module doc)."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: no such FID Inception weights file "
                            "(.npz, or pytorch-fid's pt_inception-2015-12-05-6726825d.pth).")
  if path.suffix == ".npz":
    tree = vgg.load_npz(path)
    tree = {k: tree.get(k, {}) for k in ("params", "batch_stats")}
    check_variables(tree, str(path))
    return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)
  from enhance_jax.weights import torch_pickle
  return variables_from_torch(torch_pickle.load_state_dict(path), str(path))


def maybe_load_variables(path: str | os.PathLike | None) -> dict | None:
  """`load_variables`, or None with a logged reason so evaluation goes on without FID."""
  if not path:
    log.warning("FID unavailable: no Inception weights file given; skipping FID/KID.")
    return None
  try:
    return load_variables(path)
  except (FileNotFoundError, ValueError) as e:
    log.warning("FID unavailable: %s; skipping FID/KID.", e)
    return None


def save_npz(path: str | os.PathLike, variables: Mapping) -> Path:
  return vgg.save_npz(path, {k: variables[k] for k in ("params", "batch_stats")})


def convert_torch_file(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
  """pytorch-fid `.pth` -> our `.npz` (no torch needed)."""
  return save_npz(dst, load_variables(src))


# --------------------------------------------------------------- statistics ----

@dataclasses.dataclass(frozen=True)
class FeatureStats:
  """Streaming mean and scatter of features (float64), merged batch by batch
  (Chan et al.): `stats = stats.update(batch_features)`; `cov` uses ddof=1
  (like `np.cov`, pytorch-fid)."""
  n: int
  mean: np.ndarray
  m2: np.ndarray  # sum of (f - mean)(f - mean)^T

  @classmethod
  def empty(cls, dim: int = FEATURE_DIM) -> FeatureStats:
    return cls(0, np.zeros(dim), np.zeros((dim, dim)))

  def update(self, feats: np.ndarray) -> FeatureStats:
    f = np.asarray(feats, np.float64)
    if f.ndim != 2 or f.shape[1] != self.mean.shape[0]:
      raise ValueError(f"FeatureStats: expected (M, {self.mean.shape[0]}) features, got {f.shape}.")
    if len(f) == 0:
      return self
    mb = f.mean(axis=0)
    c = f - mb
    return self.merge(FeatureStats(len(f), mb, c.T @ c))

  def merge(self, other: FeatureStats) -> FeatureStats:
    n = self.n + other.n
    if n == 0:
      return self
    delta = other.mean - self.mean
    mean = self.mean + delta * (other.n / n)
    m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
    return FeatureStats(n, mean, m2)

  @property
  def cov(self) -> np.ndarray:
    if self.n < 2:
      raise ValueError(f"FeatureStats: covariance needs at least 2 samples, have {self.n}.")
    return self.m2 / (self.n - 1)

  def save(self, path: str | os.PathLike) -> None:
    """pytorch-fid's `.npz` layout: `mu`, `sigma` (plus `n`)."""
    np.savez(path, mu=self.mean, sigma=self.cov, n=self.n)


def load_stats(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) from a pytorch-fid style `.npz`."""
  with np.load(path) as z:
    return np.asarray(z["mu"], np.float64), np.asarray(z["sigma"], np.float64)


# ---------------------------------------------------------------- distances ----

def _sqrt_psd(a: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((a + a.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) in float64.

  tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))), a symmetric PSD
  matrix, so only `eigh` is needed: no complex parts, no singular-matrix
  fix-ups (negative round-off eigenvalues are clipped to 0).
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
    raise ValueError(f"frechet_distance: shapes {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}.")
  r = _sqrt_psd(s1)
  m = r @ s2 @ r
  eig = np.linalg.eigvalsh((m + m.T) / 2)
  tr_covmean = np.sum(np.sqrt(np.clip(eig, 0, None)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
  """FID between two feature sets (M, D) (statistics with ddof=1)."""
  s1 = FeatureStats.empty(f1.shape[1]).update(f1)
  s2 = FeatureStats.empty(f2.shape[1]).update(f2)
  return frechet_distance(s1.mean, s1.cov, s2.mean, s2.cov)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0) -> float:
  """Unbiased MMD^2 with k(a, b) = (gamma a.b + coef0)^degree, gamma = 1/D by default."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, n = len(x), len(y)
  gamma = 1.0 / x.shape[1] if gamma is None else gamma
  kxx = (gamma * x @ x.T + coef0) ** degree
  kyy = (gamma * y @ y.T + coef0) ** degree
  kxy = (gamma * x @ y.T + coef0) ** degree
  return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
               + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
               - 2.0 * kxy.sum() / (m * n))


def kid(f1: np.ndarray, f2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0, degree: int = 3) -> tuple[float, float]:
  """Kernel Inception Distance (Binkowski et al. 2018): mean and std over
  `num_subsets` random subsets (without replacement, size min(subset_size, M1, M2))
  of the unbiased polynomial-kernel MMD^2."""
  f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
  m = min(subset_size, len(f1), len(f2))
  if m < 2:
    raise ValueError(f"kid: need at least 2 samples per set, have {len(f1)} and {len(f2)}.")
  rng = np.random.default_rng(seed)
  vals = np.array([polynomial_mmd2(f1[rng.choice(len(f1), m, replace=False)],
                                   f2[rng.choice(len(f2), m, replace=False)], degree)
                   for _ in range(num_subsets)])
  return float(vals.mean()), float(vals.std())
