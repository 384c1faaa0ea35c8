"""12-megapixel inference through the tiling `inference.Enhancer`, ours beside PyTorch.

Each (framework, model) runs in its own subprocess so that its peak resident
memory (VmHWM of that process: libraries, weights, image, output, tiles and
activations) is its own. Ours is `inference.Enhancer` (jitted forward on batches
of `--tile_batch` tiles of `--tile` pixels, `--overlap` blended); PyTorch runs
the same tiling code (an `Enhancer` whose tile forward is the equivalent
module, eager, `torch.no_grad`, `--threads` threads, channels_last (NHWC) memory
format: its oneDNN convolutions). Weights are random (the
work does not depend on them). Runs alternate between the frameworks.

  python experiments/benchmarks/inference.py                    # dncnn + unet, 12 MP
  python experiments/benchmarks/inference.py --megapixels=1 --models=dncnn
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CHANNELS = {"dncnn": 1, "unet": 3}
JAX_KWARGS = {"dncnn": {}, "unet": dict(features=32, depth=5, out_channels=3)}
TORCH_KWARGS = {"dncnn": {}, "unet": dict(features=32, depth=5)}


def parse(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default="dncnn,unet")
  p.add_argument("--megapixels", type=float, default=12.0, help="Image size (4:3).")
  p.add_argument("--tile", type=int, default=512)
  p.add_argument("--overlap", type=int, default=32)
  p.add_argument("--tile_batch", type=int, default=4)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--repeats", type=int, default=1, help="Alternating runs per framework.")
  p.add_argument("--no_torch", action="store_true")
  p.add_argument("--json", default=None, help="Write the results as JSON here.")
  p.add_argument("--child", default=None, help=argparse.SUPPRESS)
  return p.parse_args(argv)


def image_shape(mp: float, channels: int) -> tuple[int, int, int]:
  h = int(round((mp * 1e6 * 3 / 4) ** 0.5))
  return h, int(round(h * 4 / 3)), channels


def child(args) -> dict:
  """One framework, one model: returns seconds, MP/s and peak RSS."""
  import numpy as np
  framework, name = args.child.split(":")
  c = CHANNELS[name]
  shape = image_shape(args.megapixels, c)
  image = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
  from enhance_jax import inference
  if framework == "jax":
    import jax
    from enhance_jax import models
    model = models.get(name, **JAX_KWARGS[name])
    variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 64, 64, c), np.float32),
                           train=False)
    enhancer = inference.Enhancer(model, variables, c, args.tile, args.overlap, args.tile_batch)
  else:
    torch = common.import_torch(args.threads)
    import torch_reference
    module = torch_reference.build(name, c, **TORCH_KWARGS[name]).eval()
    module = module.to(memory_format=torch.channels_last)

    class TorchEnhancer(inference.Enhancer):
      def __init__(self):  # pylint: disable=super-init-not-called
        self.channels, self.tile, self.overlap = c, args.tile, args.overlap
        self.tile_batch = args.tile_batch

      def _run(self, tiles):
        with torch.no_grad():
          outs = [module(torch.from_numpy(np.ascontiguousarray(tiles[i:i + self.tile_batch]))
                         .permute(0, 3, 1, 2))  # NHWC memory: channels_last already
                  .clamp(0, 1).permute(0, 2, 3, 1).numpy()
                  for i in range(0, len(tiles), self.tile_batch)]
        return np.concatenate(outs)

    enhancer = TorchEnhancer()
  # compile (ours) / first call (PyTorch) on the shape of the run's forward passes
  warm = np.zeros(enhancer.batch_shape(*shape[:2]), np.float32)
  t0 = time.perf_counter()
  enhancer._run(warm)
  warm_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  out = enhancer(image)
  seconds = time.perf_counter() - t0
  assert out.shape == shape, out.shape
  return {"framework": framework, "model": name, "image": "x".join(map(str, shape)),
          "warmup_s": warm_s, "seconds": seconds, "MP/s": shape[0] * shape[1] / 1e6 / seconds,
          "peak_rss_MiB": common.peak_rss() / 2 ** 20}


def main():
  args = parse()
  if args.child:
    print(json.dumps(child(args)))
    return
  info = common.machine()
  print("machine:", info, flush=True)
  frameworks = ["jax"] if args.no_torch else ["jax", "torch"]
  base = [a for a in sys.argv[1:] if not a.startswith("--json")]
  results = []
  for name in args.models.split(","):
    for _ in range(args.repeats):
      for fw in frameworks:
        r = common.run_json_subprocess([__file__, *base, f"--child={fw}:{name}"])
        print(r, flush=True)
        results.append(r)
  rows = []
  for name in args.models.split(","):
    row = {"model": name}
    for fw, label in (("jax", "ours"), ("torch", "torch")):
      rs = [r for r in results if r["model"] == name and r["framework"] == fw]
      if rs:
        row["image"] = rs[0]["image"]
        row[f"{label}_MP/s"] = common.median([r["MP/s"] for r in rs])
        row[f"{label}_peak_MiB"] = max(r["peak_rss_MiB"] for r in rs)
        row[f"{label}_warmup_s"] = common.median([r["warmup_s"] for r in rs])
    if "torch_MP/s" in row:
      row["ratio"] = row["ours_MP/s"] / row["torch_MP/s"]
    rows.append(row)
  cols = ["model", "image", "ours_MP/s", "ours_peak_MiB", "ours_warmup_s", "torch_MP/s",
          "torch_peak_MiB", "ratio"]
  print(common.table(rows, [c for c in cols if any(c in r for r in rows)]))
  common.write_json(args.json, {"machine": info, "argv": sys.argv, "runs": results, "rows": rows})


if __name__ == "__main__":
  main()
