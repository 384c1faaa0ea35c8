"""In-graph PSNR + SSIM (`metrics.image_quality.psnr_ssim`, jitted) beside scikit-image.

Same images (a batch of noisy/clean pairs), same protocol (SSIM: Gaussian
11x11 window, sigma 1.5, K1 0.01, K2 0.03, population covariance, data range
1, mean over channels of the valid region). Timed in turns in one process;
prints the median times, the ratio scikit-image/ours and the largest absolute
difference of each metric (must be <= 1e-4).

  python experiments/benchmarks/metrics.py
  python experiments/benchmarks/metrics.py --batch=32 --size=128 --channels=1
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 16, "Images in the batch.")
flags.DEFINE_integer("size", 256, "Image side.")
flags.DEFINE_integer("channels", 3, "Channels (1 or 3).")
flags.DEFINE_integer("rounds", 5, "Alternation rounds.")
flags.DEFINE_integer("reps", 3, "Timed calls per implementation per round.")
flags.DEFINE_float("tolerance", 1e-4, "Largest allowed absolute difference.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")


def main(argv):
  del argv
  import jax
  import numpy as np
  from skimage.metrics import peak_signal_noise_ratio, structural_similarity
  from enhance_jax.metrics import image_quality

  rng = np.random.default_rng(0)
  shape = (FLAGS.batch, FLAGS.size, FLAGS.size, FLAGS.channels)
  # Smooth-ish clean images (low-pass noise) and a noisy estimate of each.
  clean = rng.uniform(0, 1, (FLAGS.batch, FLAGS.size // 8, FLAGS.size // 8, FLAGS.channels))
  clean = np.asarray(jax.image.resize(clean, shape, "bicubic")).clip(0, 1).astype(np.float32)
  pred = (clean + rng.normal(0, 0.05, shape)).clip(0, 1).astype(np.float32)

  fn = jax.jit(image_quality.psnr_ssim)
  jp, jc = jax.device_put(pred), jax.device_put(clean)
  ours = jax.device_get(fn(jp, jc))

  def sk():
    psnr, ssim = [], []
    for p, c in zip(pred, clean):
      psnr.append(peak_signal_noise_ratio(c, p, data_range=1.0))
      ssim.append(structural_similarity(c, p, data_range=1.0, channel_axis=-1,
                                        gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False))
    return {"psnr": np.array(psnr), "ssim": np.array(ssim)}

  ref = sk()
  diff = {k: float(np.max(np.abs(np.asarray(ours[k], np.float64) - ref[k]))) for k in ref}
  times = common.alternate({"ours": lambda: jax.block_until_ready(fn(jp, jc)), "skimage": sk},
                           FLAGS.rounds, FLAGS.reps)
  t = {k: common.median(v) for k, v in times.items()}
  row = {"batch": "x".join(map(str, shape)), "ours_ms": 1e3 * t["ours"],
         "skimage_ms": 1e3 * t["skimage"], "speedup": t["skimage"] / t["ours"],
         "max_abs_diff_psnr_dB": diff["psnr"], "max_abs_diff_ssim": diff["ssim"],
         "agree": all(v <= FLAGS.tolerance for v in diff.values())}
  print(common.table([row], list(row)))
  common.write_json(FLAGS.output, {"machine": common.machine(), "argv": sys.argv, "row": row})
  if not row["agree"]:
    raise SystemExit(f"Disagreement above {FLAGS.tolerance}: {diff}")


if __name__ == "__main__":
  app.run(main)
