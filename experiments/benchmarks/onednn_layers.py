"""The models' convolution layers on XLA's kernels, on oneDNN through our FFI, and in PyTorch.

For each layer (batch, size, channels in -> out, kernel; 'SAME', stride 1): forward, input
gradient and weight gradient as `lax.conv_general_dilated` computes them (XLA:CPU), as the
oneDNN FFI kernels of `enhance_jax.native` compute them (both threading modes: "split", batch
slices on XLA's intra-op pool, and "omp", one OpenMP team per call), and PyTorch's
channels_last (NHWC, oneDNN) convolutions; timed in turns (`common.alternate`), best of the
rounds, in ms. `models.convolution` picks per layer from numbers like these.

  python experiments/benchmarks/onednn_layers.py --json=experiments/results/benchmarks/onednn_layers.json
  python experiments/benchmarks/onednn_layers.py --layers=unet_inference --parts=forward

`--layers=unet_inference`: the 3x3 convolutions of the benchmark's U-Net (features 32, depth 5)
at the 12 MP inference benchmark's shapes (batches of 4 tiles of 576 x 576: 512 plus 32 of
overlap on each side), where the weights of the deepest levels exceed the input
(`models.convolution` runs those on oneDNN with one OpenMP team, the batch having >= 1024
pixels). Runs before 2026-12-01 16:00 UTC used 512 x 512 tiles here.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

# (batch, side, in channels, out channels, kernel): DnCNN, SRCNN, MIRNet (batch 4), U-Net.
LAYERS = [(16, 64, 1, 64, 3), (16, 64, 64, 64, 3), (16, 64, 64, 1, 3), (16, 64, 1, 64, 9),
          (16, 64, 64, 32, 5), (16, 64, 32, 1, 5), (4, 64, 64, 64, 3), (4, 64, 64, 64, 1),
          (16, 64, 3, 32, 3), (16, 64, 32, 32, 3), (16, 32, 64, 64, 3), (16, 16, 128, 128, 3)]


def unet_layers(batch: int = 4, side: int = 576, features: int = 32, depth: int = 5) -> list:
  """The U-Net's 3x3 convolutions (encoder: in -> c, c -> c per level; decoder: 2c -> c, c -> c)
  at `batch` tiles of `side` pixels (the up-convolutions and the 1x1 head are not here)."""
  out = []
  for i in range(depth + 1):
    c = features * 2 ** i
    out += [(batch, side >> i, 3 if i == 0 else c // 2, c, 3), (batch, side >> i, c, c, 3)]
  for i in reversed(range(depth)):
    c = features * 2 ** i
    out += [(batch, side >> i, 2 * c, c, 3), (batch, side >> i, c, c, 3)]
  return out


PRESETS = {"training": lambda: LAYERS, "unet_inference": unet_layers}
PARTS = ("forward", "input_grad", "weight_grad")


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps", type=int, default=2)
  p.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads.")
  p.add_argument("--layers", default="training", choices=sorted(PRESETS),
                 help="training: the models' layers at their training batches; unet_inference: "
                 "the U-Net's at the 12 MP inference tiles.")
  p.add_argument("--parts", default=",".join(PARTS),
                 help="Comma-separated subset of forward,input_grad,weight_grad.")
  p.add_argument("--json", default=None)
  args = p.parse_args()
  parts_wanted = args.parts.split(",")
  if not parts_wanted or any(q not in PARTS for q in parts_wanted):
    sys.exit(f"error: --parts={args.parts!r}: use a comma-separated subset of {','.join(PARTS)}.")
  torch = common.import_torch(args.threads)
  info = common.machine()
  print("machine:", info, flush=True)
  import jax
  import jax.numpy as jnp
  import numpy as np
  from enhance_jax.native import conv as onednn_conv
  from enhance_jax.native import set_threading
  if info.get("conv_backend") != "onednn" and not onednn_conv.available():
    sys.exit("the oneDNN extension is not in use: " + info.get("conv_backend_detail", ""))
  dn = ("NHWC", "HWIO", "NHWC")
  rows = []
  for n, s, ci, co, k in PRESETS[args.layers]():
    x = jax.random.normal(jax.random.key(0), (n, s, s, ci))
    w = jax.random.normal(jax.random.key(1), (k, k, ci, co)) / np.sqrt(k * k * ci)
    dy = jax.random.normal(jax.random.key(2), (n, s, s, co))
    spec = onednn_conv.Spec((1, 1), ((k // 2, k // 2),) * 2, (1, 1), (s, s), (k, k))
    convs = {"xla": lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                              dimension_numbers=dn),
             "onednn": lambda x, w: onednn_conv.conv(x, w, spec)}
    fns = {}
    for impl, conv in convs.items():
      parts = {"forward": lambda x, w, dy, conv=conv: conv(x, w),
               "input_grad": lambda x, w, dy, conv=conv: jax.vjp(lambda x: conv(x, w), x)[1](dy)[0],
               "weight_grad": lambda x, w, dy, conv=conv: jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]}
      for part, g in parts.items():
        if part not in parts_wanted:
          continue
        c = jax.jit(g).lower(x, w, dy).compile()
        run = functools.partial(lambda c, a: jax.block_until_ready(c(*a)), c, (x, w, dy))
        if impl == "xla":
          fns[f"xla.{part}"] = run
        else:
          for mode in ("split", "omp"):
            fns[f"{mode}.{part}"] = functools.partial(
                lambda mode, run: (set_threading(mode), run()), mode, run)
    if torch is not None:
      F, cl = torch.nn.functional, torch.channels_last
      tx, tw, tdy = (torch.from_numpy(np.array(a)).permute(*perm).contiguous(memory_format=cl)
                     for a, perm in ((x, (0, 3, 1, 2)), (w, (3, 2, 0, 1)), (dy, (0, 3, 1, 2))))
      pad = k // 2
      torch_parts = {
          "forward": lambda: F.conv2d(tx, tw, padding=pad),
          "input_grad": lambda: torch.nn.grad.conv2d_input(tx.shape, tw, tdy, padding=pad),
          "weight_grad": lambda: torch.nn.grad.conv2d_weight(tx, tw.shape, tdy, padding=pad)}
      fns.update({f"torch.{q}": f for q, f in torch_parts.items() if q in parts_wanted})
    for f in fns.values():
      f()
    times = common.alternate(fns, args.rounds, args.steps)
    row = {"layer": f"{n}x{s}x{s} {ci}->{co} {k}x{k}", "loadavg_1m": os.getloadavg()[0]}
    row.update({f"{name}_ms": 1e3 * min(v) for name, v in times.items()})
    rows.append(row)
    print(row, flush=True)
  set_threading("split")
  cols = ["layer"] + [f"{impl}.{part}_ms" for part in PARTS
                      for impl in ("xla", "split", "omp", "torch") if f"{impl}.{part}_ms" in rows[0]]
  total = {"layer": "total"}
  total.update({c: sum(r[c] for r in rows) for c in cols[1:]})
  rows.append(total)
  print(common.table(rows, cols))
  if args.json:
    common.write_json(args.json, {"machine": info, "argv": sys.argv, "rows": rows})


if __name__ == "__main__":
  main()
