"""Train-step throughput: our jitted `steps.train_step` beside the same model in PyTorch.

For each model: forward + backward + Adam on one fixed batch (MSE loss), ours as
the training loop compiles it (mesh shardings, donated state) and PyTorch eager
(CPU build, channels_last (NHWC) unless --notorch_channels_last, `torch.set_num_threads(--threads)`), timed in turns in this
one process so that both see the same machine load. Prints compile time, median
step time, images/s, achieved GFLOP/s (convolution FLOPs of the step counted
from its jaxpr: forward, input- and weight-gradient convs), the throughput ratio
ours/PyTorch, and the machine's peak GFLOP/s for a 4096^2 matmul in both.

  python experiments/benchmarks/train_step.py                      # all four models
  python experiments/benchmarks/train_step.py --models=dncnn --rounds=3 --breakdown
  python experiments/benchmarks/train_step.py --memory             # + peak RSS per framework

`--breakdown` also times forward only, gradient w.r.t. the input only (forward +
input-gradient convs) and w.r.t. the parameters only (forward + input- and
weight-gradient convs) in both frameworks: where the time goes.
`--conv_layer` times only one 64->64 3x3 conv layer (forward, input and weight
gradient; f32, bf16 and an im2col weight gradient) beside PyTorch.
`--unet_layers` times every conv of the U-Net alone, as lax computes it and as
`models.convolution` does (no PyTorch).
`--mirnet_blocks` times each MIRNet block (DAU, SKFF, residual down-/upsampler) alone at the
shapes the MIRNet subset runs them, forward + backward, beside the PyTorch module (where the
MIRNet step's time goes).
`--batch_norm` times one BatchNorm + ReLU (16x64x64x64, training mode) forward + backward:
`models.batch_norm` (closed-form gradient, ReLU fused), Flax's BatchNorm then ReLU, PyTorch's.
`--memory` runs each framework and model again in a fresh subprocess and reports
the peak resident memory increase over the RSS after setup (model, optimizer
state, batch built; for JAX also after compiling): VmHWM after reset via
/proc/self/clear_refs.
"""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["dncnn", "unet", "srcnn", "mirnet"], "Models to benchmark.")
flags.DEFINE_integer("batch", 16, "Batch size (MIRNet: --mirnet_batch).")
flags.DEFINE_integer("mirnet_batch", 4, "Batch size for MIRNet.")
flags.DEFINE_integer("size", 64, "Patch side.")
flags.DEFINE_integer("rounds", 5, "Alternation rounds.")
flags.DEFINE_integer("steps", 3, "Timed steps per framework per round.")
flags.DEFINE_integer("warmup", 3, "Untimed steps per framework after the first one: the first "
                     "steps of a process are slower (heap growth, lazily built kernels).")
flags.DEFINE_integer("threads", 2, "PyTorch intra-op threads (XLA uses every core).")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Our compute dtype (models with "
                  "a dtype attribute; parameters and loss stay float32).")
flags.DEFINE_enum("torch_dtype", "float32", ["float32", "bfloat16"],
                  "PyTorch: float32, or bfloat16 autocast.")
flags.DEFINE_enum("device", "cpu", ["cpu", "cuda"], "Where PyTorch runs (JAX runs on its default "
                  "backend: on a GPU machine pass --device=cuda to time both on the GPU).")
flags.DEFINE_bool("mirnet_full", False, "MIRNet at the paper's size (3 RRGs x 2 MRBs), not 1 x 1.")
flags.DEFINE_bool("tiny", False, "Tiny models (a few channels and layers) for dry runs of the "
                  "script; the numbers mean nothing.")
flags.DEFINE_bool("peak", True, "Also measure the matmul peak (f32, and bf16 with --dtype=bfloat16).")
flags.DEFINE_bool("torch_channels_last", True, "PyTorch modules and batches in channels_last "
                  "(NHWC) memory format: its oneDNN convolutions, its faster CPU path.")
flags.DEFINE_bool("breakdown", False, "Also time forward / input-gradient / parameter-gradient.")
flags.DEFINE_bool("conv_layer", False, "Only time one 64->64 3x3 conv layer (batch --batch of "
                  "--size): forward, input and weight gradient, f32/bf16, im2col weight "
                  "gradient, beside PyTorch.")
flags.DEFINE_bool("unet_layers", False, "Only time each conv layer of the U-Net (forward, input "
                  "and weight gradient) as lax.conv_general_dilated / lax.conv_transpose and as "
                  "models.convolution computes it.")
flags.DEFINE_bool("mirnet_blocks", False, "Only time each MIRNet building block at the "
                  "subset's shapes (DAU, SKFF, residual down/upsampling per stream; forward + "
                  "backward of sum(y * dy)) beside its PyTorch module.")
flags.DEFINE_bool("batch_norm", False, "Only time one BatchNorm + ReLU layer (batch --batch of "
                  "--size^2 x 64), forward + backward: models.batch_norm (ours), Flax's "
                  "BatchNorm then ReLU, PyTorch's BatchNorm2d then ReLU.")
flags.DEFINE_bool("memory", False, "Measure peak RSS per framework in subprocesses.")
flags.DEFINE_list("cpus", [], "Pin this process to these CPU ids before JAX starts (e.g. "
                  "--cpus=0 --threads=1: one core each, no thread barriers: robust to load).")
flags.DEFINE_bool("torch", True, "Run the PyTorch reference.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")
flags.DEFINE_string("_child", None, "Internal: 'framework:model' memory run.")

# Our model name and constructor kwargs, image channels, torch kwargs.
SPECS = {
    "dncnn": dict(kwargs={}, channels=1, torch={}),
    "unet": dict(kwargs=dict(features=32, depth=5, out_channels=3), channels=3,
                 torch=dict(features=32, depth=5)),
    "srcnn": dict(kwargs=dict(color="y"), channels=1, torch={}),
    "mirnet": dict(kwargs=dict(n_feat=64, n_rrg=1, n_mrb=1, height=3, width=2), channels=3,
                   torch=dict(n_feat=64, n_rrg=1, n_mrb=1, height=3, width=2)),
}
LR = 1e-4


# --tiny: the same four architectures at a few channels (both frameworks).
TINY = {"dncnn": dict(depth=3, features=8), "unet": dict(features=4, depth=2),
        "srcnn": dict(features=(8, 4)), "mirnet": dict(n_feat=8, n_rrg=1, n_mrb=1, height=2,
                                                       width=2)}


def spec(name: str) -> dict:
  """SPECS[name], with the paper-size MIRNet under --mirnet_full, tiny under --tiny."""
  s = dict(SPECS[name])
  if FLAGS.tiny:
    s.update(kwargs={**s["kwargs"], **TINY[name]}, torch={**s["torch"], **TINY[name]})
    return s
  if name == "mirnet" and FLAGS.mirnet_full:
    full = dict(n_feat=64, n_rrg=3, n_mrb=2, height=3, width=2)
    s.update(kwargs=full, torch=full)
  return s


def batch_shape(name: str) -> tuple[int, int, int, int]:
  n = FLAGS.mirnet_batch if name == "mirnet" else FLAGS.batch
  return n, FLAGS.size, FLAGS.size, SPECS[name]["channels"]


def make_data(name: str):
  import numpy as np
  rng = np.random.default_rng(0)
  shape = batch_shape(name)
  target = rng.uniform(0.0, 1.0, shape).astype(np.float32)
  noisy = np.clip(target + 0.1 * rng.standard_normal(shape).astype(np.float32), 0.0, 1.0)
  return noisy, target


# ----------------------------------------------------------------------------- ours

class Ours:
  """The trainer's step, jitted as `training/loop.py` does."""

  def __init__(self, name: str):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from enhance_jax import models
    from enhance_jax.training import losses, steps
    from enhance_jax.training import mesh as mesh_lib
    from enhance_jax.training import state as state_lib
    kwargs = dict(spec(name)["kwargs"])
    fields = getattr(models.MODELS.lookup(name), "__dataclass_fields__", {})
    if FLAGS.dtype != "float32" and "dtype" in fields:
      kwargs["dtype"] = jnp.dtype(FLAGS.dtype)
    self.model = model = models.get(name, **kwargs)
    noisy, target = make_data(name)
    mesh = mesh_lib.make_mesh()
    tx = optax.adam(LR)
    self.tx = tx
    self.loss_fn = losses.build("l2")
    state = state_lib.create_train_state(model, tx, np.zeros_like(noisy), seed=0, ema=False)
    self.state = mesh_lib.replicate(state, mesh)
    self.batch = mesh_lib.global_batch({"input": noisy, "target": target}, mesh)
    state_sharding = jax.tree.map(lambda _: mesh_lib.replicated(mesh), self.state)
    step_fn = functools.partial(
        steps.train_step, model=model, tx=tx, loss_fn=self.loss_fn,
        degrade=lambda batch, key: batch, lr_schedule=optax.constant_schedule(LR))
    self.jitted = jax.jit(step_fn, in_shardings=(state_sharding, mesh_lib.batch_sharded(mesh)),
                          out_shardings=(state_sharding, mesh_lib.replicated(mesh)),
                          donate_argnums=(0,))
    self.step_fn = step_fn
    self.num_params = sum(x.size for x in jax.tree.leaves(self.state.params))
    self.compiled = None

  def flops(self) -> float:
    from enhance_jax.models import complexity
    f = complexity.count_flops(self.step_fn, self.state, self.batch)
    return f["conv"] + f["dot"]

  def compile(self) -> float:
    t0 = time.perf_counter()
    self.compiled = self.jitted.lower(self.state, self.batch).compile()
    return time.perf_counter() - t0

  def memory_analysis(self) -> int | None:
    try:
      m = self.compiled.memory_analysis()
      return int(m.temp_size_in_bytes + m.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
      return None

  def step(self) -> None:
    self.state, metrics = self.compiled(self.state, self.batch)
    metrics["loss"].block_until_ready()

  def parts(self) -> dict:
    """Blocking callables: forward, grad w.r.t. input, grad w.r.t. params (train mode)."""
    import jax
    model, loss_fn, state, batch = self.model, self.loss_fn, self.state, self.batch
    mutable = list(state.model_state.keys())

    def loss(params, x):
      out = model.apply({"params": params, **state.model_state}, x, train=True,
                        mutable=mutable or False)
      pred = out[0] if mutable else out
      return loss_fn(pred, batch["target"])[0]

    fwd = jax.jit(loss)
    gx = jax.jit(jax.grad(loss, argnums=1))
    gp = jax.jit(jax.grad(loss, argnums=0))
    # Copies: the train step donates (and so deletes) the state's buffers.
    args = (jax.tree.map(lambda a: a.copy(), state.params), batch["input"])
    fns = {}
    for key, f in (("forward", fwd), ("grad_input", gx), ("grad_params", gp)):
      c = f.lower(*args).compile()
      c(*args)
      fns[key] = functools.partial(lambda c: jax.block_until_ready(c(*args)), c)
    return fns


# ----------------------------------------------------------------------------- PyTorch

class Reference:
  """The equivalent PyTorch module, eager, Adam (default foreach implementation), on
  --device (CUDA: each step ends with a synchronize, as ours blocks on its loss)."""

  def __init__(self, name: str, torch):
    import torch_reference
    self.torch = torch
    torch.manual_seed(0)
    noisy, target = make_data(name)
    s = spec(name)
    dev = torch.device(FLAGS.device)
    self.device_type = dev.type
    self.sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    self.model = torch_reference.build(name, s["channels"], **s["torch"]).to(dev).train()
    self.x = torch.from_numpy(noisy).permute(0, 3, 1, 2).contiguous().to(dev)
    self.y = torch.from_numpy(target).permute(0, 3, 1, 2).contiguous().to(dev)
    if FLAGS.torch_channels_last:
      self.model = self.model.to(memory_format=torch.channels_last)
      self.x = self.x.contiguous(memory_format=torch.channels_last)
      self.y = self.y.contiguous(memory_format=torch.channels_last)
    self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
    self.num_params = torch_reference.num_params(self.model)
    self.autocast = FLAGS.torch_dtype == "bfloat16"

  def _loss(self, x):
    torch = self.torch
    with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.autocast):
      out = self.model(x)
    return torch.nn.functional.mse_loss(out.float(), self.y)

  def step(self) -> None:
    self.opt.zero_grad(set_to_none=True)
    loss = self._loss(self.x)
    loss.backward()
    self.opt.step()
    self.sync()

  def parts(self) -> dict:
    torch = self.torch
    params = list(self.model.parameters())

    def fwd():
      with torch.no_grad():
        self._loss(self.x)
      self.sync()

    def grad_input():
      for p in params:
        p.requires_grad_(False)
      x = self.x.clone().requires_grad_(True)
      torch.autograd.grad(self._loss(x), [x])
      for p in params:
        p.requires_grad_(True)
      self.sync()

    def grad_params():
      torch.autograd.grad(self._loss(self.x), params)
      self.sync()

    return {"forward": fwd, "grad_input": grad_input, "grad_params": grad_params}


# ----------------------------------------------------------------------------- memory child

def child(spec: str) -> None:
  """Builds one framework's step, then reports peak RSS increase over a few steps."""
  import json
  framework, name = spec.split(":")
  if framework == "jax":
    runner = Ours(name)
    base = common.rss()
    runner.compile()
  else:
    torch = common.import_torch(FLAGS.threads)
    runner = Reference(name, torch)
    base = common.rss()
  common.reset_peak_rss()
  for _ in range(3):
    runner.step()
  print(json.dumps({"peak_rss_delta": common.peak_rss() - base, "base_rss": base}))


def measure_memory(name: str) -> dict:
  out = {}
  for framework in ("jax", "torch") if FLAGS.torch else ("jax",):
    args = [__file__, f"--_child={framework}:{name}", f"--batch={FLAGS.batch}",
            f"--mirnet_batch={FLAGS.mirnet_batch}", f"--size={FLAGS.size}",
            f"--dtype={FLAGS.dtype}", f"--torch_dtype={FLAGS.torch_dtype}",
            f"--threads={FLAGS.threads}", f"--cpus={','.join(FLAGS.cpus)}",
            f"--device={FLAGS.device}", f"--mirnet_full={FLAGS.mirnet_full}"]
    args.append(f"--torch_channels_last={FLAGS.torch_channels_last}")
    out[framework] = common.run_json_subprocess(args)["peak_rss_delta"] / 2 ** 20
  return out


# ----------------------------------------------------------------------------- one layer

def conv_layer(torch) -> None:
  """Forward / input-gradient / weight-gradient of one 64->64 3x3 conv, alternating."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  n, s, c = FLAGS.batch, FLAGS.size, 64
  rng = np.random.default_rng(0)
  xs = rng.standard_normal((n, s, s, c), np.float32)
  ks = (0.05 * rng.standard_normal((3, 3, c, c))).astype(np.float32)
  dys = rng.standard_normal((n, s, s, c), np.float32)
  dn = ("NHWC", "HWIO", "NHWC")
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn)

  def wgrad_im2col(x, k, dy):
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    p = jnp.concatenate([xp[:, i:i + s, j:j + s] for i in range(3) for j in range(3)], -1)
    return jnp.einsum("nhwk,nhwo->ko", p, dy).reshape(k.shape)

  ops = {"forward": lambda x, k, dy: conv(x, k),
         "input_grad": lambda x, k, dy: jax.vjp(lambda x: conv(x, k), x)[1](dy)[0],
         "weight_grad": lambda x, k, dy: jax.vjp(lambda k: conv(x, k), k)[1](dy)[0],
         "weight_grad_im2col": wgrad_im2col}
  fns = {}
  for dt in (jnp.float32, jnp.bfloat16):
    args = [jnp.asarray(a, dt) for a in (xs, ks, dys)]
    for name, op in ops.items():
      if dt == jnp.bfloat16 and name.endswith("im2col"):
        continue
      f = jax.jit(op).lower(*args).compile()
      fns[f"ours.{jnp.dtype(dt).name}.{name}"] = functools.partial(
          lambda f, a: jax.block_until_ready(f(*a)), f, args)
  from enhance_jax.models import convolution
  if convolution.backend() == "onednn":  # the same three on the oneDNN FFI kernels
    mconv = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), "SAME",
                                                          dimension_numbers=dn)
    args = [jnp.asarray(a) for a in (xs, ks, dys)]
    for name, op in {"forward": lambda x, k, dy: mconv(x, k),
                     "input_grad": lambda x, k, dy: jax.vjp(lambda x: mconv(x, k), x)[1](dy)[0],
                     "weight_grad": lambda x, k, dy: jax.vjp(lambda k: mconv(x, k), k)[1](dy)[0],
                     }.items():
      f = jax.jit(op).lower(*args).compile()
      fns[f"onednn.float32.{name}"] = functools.partial(
          lambda f, a: jax.block_until_ready(f(*a)), f, args)
  if torch is not None:
    F = torch.nn.functional
    tx = torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous()
    tk = torch.from_numpy(ks).permute(3, 2, 0, 1).contiguous()
    tdy = torch.from_numpy(dys).permute(0, 3, 1, 2).contiguous()
    fns["torch.float32.forward"] = lambda: F.conv2d(tx, tk, padding=1)
    fns["torch.float32.input_grad"] = lambda: torch.nn.grad.conv2d_input(tx.shape, tk, tdy,
                                                                          padding=1)
    fns["torch.float32.weight_grad"] = lambda: torch.nn.grad.conv2d_weight(tx, tk.shape, tdy,
                                                                           padding=1)
    cl = torch.channels_last  # NHWC memory: PyTorch's oneDNN path
    cx, ck, cdy = (t.contiguous(memory_format=cl) for t in (tx, tk, tdy))
    fns["torch_cl.float32.forward"] = lambda: F.conv2d(cx, ck, padding=1)
    fns["torch_cl.float32.input_grad"] = lambda: torch.nn.grad.conv2d_input(cx.shape, ck, cdy,
                                                                             padding=1)
    fns["torch_cl.float32.weight_grad"] = lambda: torch.nn.grad.conv2d_weight(cx, ck.shape, cdy,
                                                                              padding=1)
  for f in fns.values():
    f()
  flops = 2 * n * s * s * c * c * 9
  rows = [{"op": k, "ms": 1e3 * common.median(v), "GFLOP/s": flops / common.median(v) / 1e9}
          for k, v in common.alternate(fns, FLAGS.rounds, FLAGS.steps).items()]
  print(common.table(rows, ["op", "ms", "GFLOP/s"]))
  return rows


def unet_layers() -> list[dict]:
  """Each conv of the benchmark's U-Net: lax beside `models.convolution`, alternating."""
  import jax
  import jax.numpy as jnp
  from enhance_jax.models import convolution
  dn = ("NHWC", "HWIO", "NHWC")
  impls = {
      "lax": (lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn),
              lambda x, k: jax.lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=dn)),
      "ours": (lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), "SAME",
                                                             dimension_numbers=dn),
               lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                             lhs_dilation=(2, 2),
                                                             dimension_numbers=dn)),
  }
  spec = SPECS["unet"]["kwargs"]
  n, f0, depth = FLAGS.batch, spec["features"], spec["depth"]
  layers = []  # (kind, input side, in channels, out channels)
  for i in range(depth + 1):
    c = f0 * 2 ** i
    layers += [("conv", FLAGS.size >> i, 3 if i == 0 else c // 2, c), ("conv", FLAGS.size >> i, c, c)]
  for i in reversed(range(depth)):
    c = f0 * 2 ** i
    layers += [("up", FLAGS.size >> (i + 1), 2 * c, c), ("conv", FLAGS.size >> i, 2 * c, c)]
  rows = []
  for kind, s, ci, co in layers:
    k = 2 if kind == "up" else 3
    x = jax.random.normal(jax.random.key(0), (n, s, s, ci))
    w = 0.05 * jax.random.normal(jax.random.key(1), (k, k, ci, co))
    fns = {}
    for impl, (conv, up) in impls.items():
      op = up if kind == "up" else conv
      dy = jnp.ones(jax.eval_shape(op, x, w).shape)
      parts = {"forward": lambda x, w, dy, op=op: op(x, w),
               "input_grad": lambda x, w, dy, op=op: jax.vjp(lambda x: op(x, w), x)[1](dy)[0],
               "weight_grad": lambda x, w, dy, op=op: jax.vjp(lambda w: op(x, w), w)[1](dy)[0]}
      for part, g in parts.items():
        c = jax.jit(g).lower(x, w, dy).compile()
        c(x, w, dy)
        fns[(impl, part)] = functools.partial(lambda c, a: jax.block_until_ready(c(*a)), c,
                                              (x, w, dy))
    times = common.alternate(fns, FLAGS.rounds, FLAGS.steps)
    row = {"layer": f"{kind} {s}x{s} {ci}->{co}"}
    for (impl, part), v in times.items():
      row[f"{impl}_{part}_ms"] = 1e3 * common.median(v)
    rows.append(row)
    print(row, flush=True)
  cols = ["layer"] + [f"{i}_{p}_ms" for i in impls for p in ("forward", "input_grad", "weight_grad")]
  total = {"layer": "total", **{c: sum(r[c] for r in rows) for c in cols[1:]}}
  print(common.table(rows + [total], cols))
  return rows + [total]


def mirnet_blocks(torch) -> list[dict]:
  """Each MIRNet block at the shapes of the benchmark's subset (batch --mirnet_batch, side
  --size, 64 features, 3 streams at x1, x1/2, x1/4 with 64, 128, 256 channels): our jitted
  forward + backward (gradients of sum(y * dy) w.r.t. the input and the parameters) beside
  the same PyTorch module (channels_last unless --notorch_channels_last), alternating."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch_reference as tr
  from enhance_jax.models import mirnet
  n, s = FLAGS.mirnet_batch, FLAGS.size
  blocks = []  # (name, our module, torch module, number of inputs, channels, side)
  for j, c in enumerate((64, 128, 256)):
    side = s >> j
    blocks.append((f"DAU {c}@{side}", mirnet.DAU(), tr.DAU(c), 1, c, side))
    blocks.append((f"SKFF {c}@{side} x3", mirnet.SKFF(), tr.SKFF(c, 3), 3, c, side))
    if j < 2:
      blocks.append((f"down {c}@{side}", mirnet.ResidualDownsample(), tr._Down(c, 2), 1, c, side))
    if j > 0:
      blocks.append((f"up {c}@{side}", mirnet.ResidualUpsample(), tr._Up(c, 2), 1, c, side))
  fmt = torch.channels_last if FLAGS.torch_channels_last else torch.contiguous_format
  rows = []
  for name, ours, ref, k, c, side in blocks:
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, side, side, c)).astype(np.float32) for _ in range(k)]
    call = (lambda m, v, xs: m.apply(v, xs)) if k > 1 else (lambda m, v, xs: m.apply(v, xs[0]))
    xj = [jnp.asarray(x) for x in xs]
    variables = ours.init(jax.random.key(0), xj if k > 1 else xj[0])
    dy = jnp.ones(jax.eval_shape(lambda v, xs: call(ours, v, xs), variables, xj).shape)
    grad = jax.jit(jax.grad(lambda v, xs: jnp.sum(call(ours, v, xs) * dy), argnums=(0, 1)))
    grad(variables, xj)
    ref = ref.to(memory_format=fmt)
    xt = [torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)
          .requires_grad_() for x in xs]

    def torch_step(ref=ref, xt=xt, k=k):
      ref.zero_grad()
      y = ref(xt) if k > 1 else ref(xt[0])
      y.sum().backward()

    fns = {"ours": lambda: jax.block_until_ready(grad(variables, xj)), "torch": torch_step}
    common.alternate(fns, 1, FLAGS.warmup)
    times = common.alternate(fns, FLAGS.rounds, FLAGS.steps)
    row = {"block": name, "ours_ms": 1e3 * common.median(times["ours"]),
           "torch_ms": 1e3 * common.median(times["torch"])}
    row["ratio"] = row["torch_ms"] / row["ours_ms"]
    rows.append(row)
    print(row, flush=True)
  total = {"block": "total (each once)", "ours_ms": sum(r["ours_ms"] for r in rows),
           "torch_ms": sum(r["torch_ms"] for r in rows)}
  total["ratio"] = total["torch_ms"] / total["ours_ms"]
  print(common.table(rows + [total], ["block", "ours_ms", "torch_ms", "ratio"]))
  return rows + [total]


def batch_norm_layer(torch) -> list[dict]:
  """One training-mode BatchNorm + ReLU over (batch, size, size, 64), forward + backward
  (gradients of sum(y * dy) w.r.t. input, scale and bias), alternating."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import numpy as np
  from enhance_jax.models import batch_norm
  shape = (FLAGS.batch, FLAGS.size, FLAGS.size, 64)
  rng = np.random.default_rng(0)
  x, dy = (jnp.asarray(rng.standard_normal(shape, np.float32)) for _ in range(2))
  stats = {"mean": jnp.zeros(64), "var": jnp.ones(64)}
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)
  impls = {
      "ours": lambda p, x: batch_norm.BatchNorm(activation="relu").apply(
          {"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])[0],
      "flax": lambda p, x: nn.relu(flax_bn.apply({"params": p, "batch_stats": stats}, x,
                                                 mutable=["batch_stats"])[0])}
  params = {"scale": jnp.ones(64), "bias": jnp.zeros(64)}
  fns = {}
  for name, f in impls.items():
    g = jax.jit(jax.grad(lambda p, x, f=f: jnp.sum(f(p, x) * dy), argnums=(0, 1)))
    fns[name] = functools.partial(lambda g: jax.block_until_ready(g(params, x)), g)
  if torch is not None:
    fmt = torch.channels_last if FLAGS.torch_channels_last else torch.contiguous_format
    bn = torch.nn.BatchNorm2d(64)
    tx = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    tx.requires_grad_()
    tdy = torch.from_numpy(np.array(dy)).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    fns["torch"] = lambda: torch.autograd.grad(torch.relu(bn(tx)), [tx, *bn.parameters()], tdy)
  common.alternate(fns, 1, FLAGS.warmup)
  times = common.alternate(fns, FLAGS.rounds, FLAGS.steps)
  rows = [{"impl": k, "median_ms": 1e3 * common.median(v), "min_ms": 1e3 * min(v)}
          for k, v in times.items()]
  print(common.table(rows, ["impl", "median_ms", "min_ms"]))
  return rows


# ----------------------------------------------------------------------------- main

def main(argv):
  del argv
  if FLAGS.cpus:
    import os
    os.sched_setaffinity(0, {int(c) for c in FLAGS.cpus})
  if FLAGS._child:
    return child(FLAGS._child)
  torch = common.import_torch(FLAGS.threads) if FLAGS.torch else None
  info = common.machine()
  print("machine:", info, flush=True)
  if FLAGS.conv_layer or FLAGS.unet_layers or FLAGS.mirnet_blocks or FLAGS.batch_norm:
    rows = (conv_layer(torch) if FLAGS.conv_layer else
            mirnet_blocks(torch) if FLAGS.mirnet_blocks else
            batch_norm_layer(torch) if FLAGS.batch_norm else unet_layers())
    if FLAGS.output:
      common.write_json(FLAGS.output, {"machine": info, "argv": sys.argv, "rows": rows})
    return None
  n_peak = 8192 if FLAGS.device == "cuda" else 4096
  peak = common.matmul_peak(torch, n=n_peak, device=FLAGS.device) if FLAGS.peak else {}
  peak_bf16 = (common.matmul_peak(torch, n=n_peak, dtype="bfloat16", device=FLAGS.device)
               if FLAGS.peak and "bfloat16" in (FLAGS.dtype, FLAGS.torch_dtype) else {})
  print(f"peak matmul GFLOP/s ({n_peak}^2 f32):", {k: round(v, 1) for k, v in peak.items()},
        "bf16:", {k: round(v, 1) for k, v in peak_bf16.items()}, flush=True)
  rows, breakdown = [], []
  for name in FLAGS.models:
    ours = Ours(name)
    flops = ours.flops()
    compile_s = ours.compile()
    t0 = time.perf_counter()
    ours.step()
    first_jax = time.perf_counter() - t0
    fns = {"ours": ours.step}
    row = {"model": name, "batch": "x".join(map(str, batch_shape(name))),
           "params": ours.num_params, "GFLOP/step": flops / 1e9, "compile_s": compile_s,
           "xla_temp_MiB": (ours.memory_analysis() or 0) / 2 ** 20}
    if torch is not None:
      ref = Reference(name, torch)
      if ref.num_params != ours.num_params:
        print(f"WARNING {name}: PyTorch has {ref.num_params} parameters, ours {ours.num_params}")
      t0 = time.perf_counter()
      ref.step()
      row["torch_first_step_s"] = time.perf_counter() - t0
      fns["torch"] = ref.step
    common.alternate(fns, 1, FLAGS.warmup)
    times = common.alternate(fns, FLAGS.rounds, FLAGS.steps)
    n = batch_shape(name)[0]
    for k, v in times.items():
      med = common.median(v)
      row[f"{k}_s"] = med
      row[f"{k}_img/s"] = n / med
      row[f"{k}_GFLOP/s"] = flops / med / 1e9
    if torch is not None:
      row["ratio"] = row["torch_s"] / row["ours_s"]
    row["ours_first_step_s"] = first_jax
    if FLAGS.memory:
      mem = measure_memory(name)
      row["ours_peak_MiB"] = mem["jax"]
      row["torch_peak_MiB"] = mem.get("torch")
    rows.append(row)
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    if FLAGS.breakdown:
      parts = {f"ours.{k}": f for k, f in ours.parts().items()}
      parts["ours.step"] = ours.step
      if torch is not None:
        parts.update({f"torch.{k}": f for k, f in ref.parts().items()})
        parts["torch.step"] = ref.step
      t = {k: common.median(v) for k, v in common.alternate(parts, FLAGS.rounds, 2).items()}
      for fw in ("ours", "torch") if torch is not None else ("ours",):
        b = {"model": name, "framework": fw, "forward_s": t[f"{fw}.forward"],
             "input_grad_s": t[f"{fw}.grad_input"] - t[f"{fw}.forward"],
             "weight_grad_s": t[f"{fw}.grad_params"] - t[f"{fw}.grad_input"],
             "optimizer_rest_s": t[f"{fw}.step"] - t[f"{fw}.grad_params"],
             "step_s": t[f"{fw}.step"]}
        breakdown.append(b)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in b.items()}, flush=True)
    del ours
  print()
  print(f"Peak matmul ({n_peak}^2 f32) GFLOP/s: "
        + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
  cols = ["model", "batch", "params", "GFLOP/step", "compile_s", "ours_s", "ours_img/s",
          "ours_GFLOP/s"]
  if torch is not None:
    cols += ["torch_s", "torch_img/s", "torch_GFLOP/s", "ratio"]
  if FLAGS.memory:
    cols += ["ours_peak_MiB", "torch_peak_MiB"]
  print(common.table(rows, cols))
  if breakdown:
    print()
    print(common.table(breakdown, ["model", "framework", "forward_s", "input_grad_s",
                                   "weight_grad_s", "optimizer_rest_s", "step_s"]))
  common.write_json(FLAGS.output, {"machine": info, "argv": sys.argv, "peak_gflops": peak,
                                   "peak_gflops_bf16": peak_bf16, "device": FLAGS.device,
                                   "rows": rows, "breakdown": breakdown})


if __name__ == "__main__":
  app.run(main)
