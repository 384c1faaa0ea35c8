"""Training parity with a PyTorch loop: the pieces `run.py` and tests/test_parity.py share.

Our side is the trainer's own code: `tasks.build(config)` gives the optimizer (`optim.build`),
the loss (`losses.build`) and the pure `steps.train_step`, jitted here as the loop jits it. The
PyTorch side is a loop in the style of KAIR's `ModelPlain.optimize_parameters` (zero_grad,
forward, loss, backward, step) on the modules of experiments/benchmarks/torch_reference.py.

Both see the same batches: NHWC float32 numpy arrays made once here (crops, flips/rotations and,
for DnCNN, the noise, from one numpy seed), passed to ours as {'input', 'target'} (the config's
degradation is '' so the step does not degrade them again) and to PyTorch as NCHW tensors. The
PyTorch loop matches ours where the frameworks differ by default:
  - loss: mean squared error over all pixels (our 'l2', `F.mse_loss` 'mean'; not KAIR's sum);
  - Adam: b1, b2 from the config, eps 1e-8, no weight decay, bias correction in both (optax and
    torch compute the same update); the learning rate of step i is our schedule's value at i,
    set on the torch param group before the step; no gradient clipping (config 0);
  - BatchNorm: Flax momentum 0.9 = PyTorch momentum 0.1, eps 1e-5 both, batch statistics with
    the biased variance in training in both; the running variance PyTorch keeps is the unbiased
    one (x n/(n-1), n = 25,600 values per channel here: 4e-5 relative), Flax the biased one;
  - float32 throughout, `torch.use_deterministic_algorithms(True)`.
Weights are copied PyTorch -> Flax (`importers.sequential_variables`: OIHW -> HWIO), so
"copied" runs start from PyTorch's default initialisation in both frameworks.
"""
from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from enhance_jax.data import bicubic, color, imageio
from enhance_jax.metrics import image_quality
from enhance_jax.training import components, optim, tasks
from enhance_jax.training import state as state_lib
from enhance_jax.weights import importers


# --- Batches ------------------------------------------------------------------------------------

def _dihedral(rng: np.random.Generator, *images: np.ndarray) -> list[np.ndarray]:
  flip, rot = bool(rng.integers(2)), int(rng.integers(4))
  out = []
  for im in images:
    im = im[:, ::-1] if flip else im
    out.append(np.ascontiguousarray(np.rot90(im, rot, axes=(0, 1))))
  return out


def denoise_batches(images: list[np.ndarray], steps: int, batch: int, patch: int, sigma: float,
                    seed: int) -> list[dict]:
  """`steps` batches {'input': noisy, 'target': clean}, each [batch, patch, patch, 1] float32:
  a random image, a random crop, one of the 8 flips/rotations, AWGN of std sigma/255 (not
  clipped), all from `np.random.default_rng(seed)`. `images`: HW1 float32 in [0, 1]."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(steps):
    clean = []
    for _ in range(batch):
      im = images[int(rng.integers(len(images)))]
      y, x = int(rng.integers(im.shape[0] - patch + 1)), int(rng.integers(im.shape[1] - patch + 1))
      clean.append(_dihedral(rng, im[y:y + patch, x:x + patch])[0])
    clean = np.stack(clean).astype(np.float32)
    noise = rng.standard_normal(clean.shape).astype(np.float32) * np.float32(sigma / 255.0)
    out.append({"input": clean + noise, "target": clean})
  return out


def sr_pair(rgb: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
  """HWC RGB float in [0, 1] -> (bicubic-upsampled Y, Y) of the image cropped to a multiple
  of `scale`, HW1 float32: Y of MATLAB `rgb2ycbcr`, MATLAB-bicubic down then up by `scale`."""
  h, w = rgb.shape[0] // scale * scale, rgb.shape[1] // scale * scale
  y = color.rgb_to_y(rgb[:h, :w].astype(np.float64))
  low = bicubic.imresize_np(y, 1.0 / scale)
  up = bicubic.imresize_np(low, float(scale))
  return up.astype(np.float32), y.astype(np.float32)


def sr_batches(pairs: list[tuple[np.ndarray, np.ndarray]], steps: int, batch: int, patch: int,
               seed: int) -> list[dict]:
  """`steps` batches {'input': upsampled Y, 'target': Y} of aligned `patch` crops (with the
  same flip/rotation) of random (input, target) image pairs, from `default_rng(seed)`."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(steps):
    xs, ys = [], []
    for _ in range(batch):
      up, y = pairs[int(rng.integers(len(pairs)))]
      i, j = int(rng.integers(y.shape[0] - patch + 1)), int(rng.integers(y.shape[1] - patch + 1))
      a, b = _dihedral(rng, up[i:i + patch, j:j + patch], y[i:i + patch, j:j + patch])
      xs.append(a)
      ys.append(b)
    out.append({"input": np.stack(xs), "target": np.stack(ys)})
  return out


def read_gray(paths: list[Path]) -> list[np.ndarray]:
  return [imageio.to_float(imageio.read_image(p, channels=1)) for p in paths]


def read_rgb(paths: list[Path]) -> list[np.ndarray]:
  return [imageio.to_float(imageio.read_image(p, channels=3)) for p in paths]


# --- Weights ------------------------------------------------------------------------------------

def state_dict_numpy(module) -> dict[str, np.ndarray]:
  return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def flax_from_torch(name: str, module) -> dict:
  """Flax variables holding the PyTorch reference module's weights (DnCNN: through the
  KAIR/SaoYan importer's mapping; SRCNN: convs[i] -> conv{i+1}, OIHW -> HWIO)."""
  sd = state_dict_numpy(module)
  if name == "dncnn":
    return importers.sequential_variables(sd, "torch_reference.DnCNN")
  if name == "srcnn":
    n = len(module.convs)
    return {"params": {f"conv{i + 1}": {"kernel": sd[f"convs.{i}.weight"].transpose(2, 3, 1, 0),
                                        "bias": sd[f"convs.{i}.bias"]} for i in range(n)}}
  raise ValueError(f"parity: no weight mapping for {name!r} (use dncnn or srcnn).")


def load_torch_from_flax(name: str, module, variables: dict) -> None:
  """Puts Flax `variables` into the PyTorch reference module (the inverse of
  `flax_from_torch`: HWIO -> OIHW; DnCNN's BatchNorm_{j-1} follows conv{j}), in place.
  Raises ValueError when a round trip through `flax_from_torch` does not give them back."""
  import torch
  p, st = variables["params"], variables.get("batch_stats", {})
  new = {}
  if name == "dncnn":
    conv_i = 0
    for idx, layer in enumerate(module.body):
      if isinstance(layer, torch.nn.Conv2d):
        new[f"body.{idx}.weight"] = np.asarray(p[f"conv{conv_i}"]["kernel"]).transpose(3, 2, 0, 1)
        conv_i += 1
      elif isinstance(layer, torch.nn.BatchNorm2d):
        bn = f"BatchNorm_{conv_i - 2}"
        new.update({f"body.{idx}.weight": p[bn]["scale"], f"body.{idx}.bias": p[bn]["bias"],
                    f"body.{idx}.running_mean": st[bn]["mean"],
                    f"body.{idx}.running_var": st[bn]["var"]})
  elif name == "srcnn":
    for i in range(len(module.convs)):
      new[f"convs.{i}.weight"] = np.asarray(p[f"conv{i + 1}"]["kernel"]).transpose(3, 2, 0, 1)
      new[f"convs.{i}.bias"] = p[f"conv{i + 1}"]["bias"]
  else:
    raise ValueError(f"parity: no weight mapping for {name!r} (use dncnn or srcnn).")
  sd = module.state_dict()
  sd.update({k: torch.from_numpy(np.array(v, np.float32)) for k, v in new.items()})
  module.load_state_dict(sd)
  back = flax_from_torch(name, module)
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    got = back
    for k in path:
      got = got[k.key]
    if not np.array_equal(np.asarray(got), np.asarray(leaf)):
      raise ValueError(f"parity: {jax.tree_util.keystr(path)} did not survive Flax -> PyTorch.")


# The perturbed control's relative change of each initial weight: a few ulps of the dtype.
PERTURBATION = {"float32": 2.0 ** -22, "float64": 2.0 ** -50}


def perturb(module, rel: float, seed: int = 0) -> None:
  """Multiplies every parameter element of the PyTorch module by 1 + rel or 1 - rel (random
  signs from `seed`), in place: a rounding-sized change of the starting point (rel = 2^-50,
  a few float64 ulps) whose growth over training is how far the dynamics alone move a curve."""
  import torch
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for p in module.parameters():
      sign = torch.randint(0, 2, p.shape, generator=g).to(p.dtype) * 2 - 1
      p.mul_(1 + rel * sign)


def torch_module(name: str, config, torch_seed: int):
  """The PyTorch reference of the config's model, PyTorch-default initialised after
  `torch.manual_seed(torch_seed)`."""
  import torch
  from experiments.benchmarks import torch_reference
  kw = dict(config.model.kwargs)
  torch.manual_seed(torch_seed)
  if name == "dncnn":
    return torch_reference.DnCNN(channels=1, depth=kw.get("depth", 17),
                                 features=kw.get("features", 64))
  if name == "srcnn":
    return torch_reference.SRCNN(channels=1, kernel_sizes=tuple(kw.get("kernel_sizes", (9, 5, 5))),
                                 features=tuple(kw.get("features", (64, 32))))
  raise ValueError(f"parity: no PyTorch reference for {name!r}.")


def check_flax_tree(config, variables: dict) -> None:
  """Raises ValueError when `variables` do not fit the config's model (paths and shapes)."""
  from enhance_jax.weights import variables as variables_io
  model = components.model(config)
  expected = components.init_variables(config, model, abstract=True)
  variables_io.check_shapes(expected, variables, "weights copied from PyTorch")


# --- Training -----------------------------------------------------------------------------------

def train_ours(config, variables: dict, batches: list[dict]) -> dict:
  """Our trainer's step (`tasks.build(config).step_fn()`, jitted, state donated as the loop
  does) over `batches` from `variables`. Returns {'loss': per-step losses (before each
  update), 'variables': final variables (numpy), 'seconds': wall time of the steps after the
  first (compile excluded), 'compile_s'}."""
  task = tasks.build(config, num_steps=len(batches))
  state = state_lib.TrainState.create(jax.tree.map(jnp.asarray, variables), task.tx, config.seed,
                                      ema=False)
  step = jax.jit(task.step_fn(), donate_argnums=0)
  losses = []
  t0 = time.perf_counter()
  compile_s = 0.0
  for i, b in enumerate(batches):
    state, metrics = step(state, b)
    losses.append(float(metrics["loss"]))
    if i == 0:
      compile_s = time.perf_counter() - t0
      t0 = time.perf_counter()
  seconds = time.perf_counter() - t0
  return {"loss": losses, "variables": jax.tree.map(np.asarray, state.variables()),
          "seconds": seconds, "compile_s": compile_s}


def train_torch(module, batches: list[dict], lrs: list[float], b1: float, b2: float,
                dtype: str = "float32", channels_last: bool = False) -> dict:
  """A KAIR-style loop: zero_grad, forward, MSE (mean), backward, Adam step, with learning
  rate `lrs[i]` at step i over `batches[:len(lrs)]`. `dtype` 'float64': the batches are cast
  to it (cast the module with `.double()` too). `channels_last`: module and batches in that
  memory format (PyTorch's faster CPU path). Returns {'loss', 'seconds'} (the module is
  trained in place)."""
  import torch
  import torch.nn.functional as F
  if channels_last:
    module.to(memory_format=torch.channels_last)
  opt = torch.optim.Adam(module.parameters(), lr=lrs[0], betas=(b1, b2), eps=1e-8,
                         weight_decay=0.0)
  module.train()
  losses = []
  t0 = time.perf_counter()
  for b, lr in zip(batches, lrs):
    x = torch.from_numpy(np.ascontiguousarray(b["input"].transpose(0, 3, 1, 2)))
    y = torch.from_numpy(np.ascontiguousarray(b["target"].transpose(0, 3, 1, 2)))
    if dtype == "float64":
      x, y = x.double(), y.double()
    if channels_last:
      x, y = (t.contiguous(memory_format=torch.channels_last) for t in (x, y))
    for g in opt.param_groups:
      g["lr"] = lr
    opt.zero_grad()
    loss = F.mse_loss(module(x), y)
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))
  return {"loss": losses, "seconds": time.perf_counter() - t0}


def learning_rates(config, steps: int) -> list[float]:
  """Our schedule's learning rate at steps 0..steps-1 (what optax uses for update i)."""
  _, schedule = optim.build(config.optimizer, steps)
  return [float(schedule(i)) for i in range(steps)]


# --- Evaluation ---------------------------------------------------------------------------------

def apply_ours(config, variables: dict, images: list[np.ndarray]) -> list[np.ndarray]:
  """Our model in eval mode (BN running statistics) on each HW1 image."""
  model = components.model(config)
  fn = jax.jit(lambda v, x: model.apply(v, x, train=False))
  return [np.asarray(fn(variables, im[None]))[0] for im in images]


def apply_torch(module, images: list[np.ndarray]) -> list[np.ndarray]:
  import torch
  module.eval()
  with torch.no_grad():
    return [module(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))[None]))
            .numpy()[0].transpose(1, 2, 0) for im in images]


def mean_psnr(outputs: list[np.ndarray], targets: list[np.ndarray],
              protocol: image_quality.Protocol) -> float:
  """Mean over images of our `image_quality.psnr` (outputs clipped to [0, 1] first, as the
  evaluator does)."""
  vals = [float(image_quality.psnr(np.clip(o, 0.0, 1.0)[None], t[None], protocol)[0])
          for o, t in zip(outputs, targets)]
  return float(np.mean(vals))


# --- Comparing curves ---------------------------------------------------------------------------

def relative_diff(a: list[float], b: list[float]) -> np.ndarray:
  """|a - b| / |b| per step."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b) / np.abs(b)


def first_step_below(losses: list[float], level: float, window: int = 10) -> int | None:
  """The first step whose trailing `window`-step mean loss is below `level` (None if never)."""
  x = np.asarray(losses, np.float64)
  if len(x) < window:
    return None
  means = np.convolve(x, np.ones(window) / window, mode="valid")
  hits = np.nonzero(means < level)[0]
  return int(hits[0] + window - 1) if len(hits) else None
