"""JPEG study: PSNR, SSIM and bytes for qualities 95 down to 5 (Table I of
cnn_enhancement_lowlight_inpainting.txt) on a real photograph.

  python experiments/jpeg_quality.py --profile=cpu     # seconds
  python experiments/jpeg_quality.py --profile=paper   # same (no training); all 5 Set5 images

The codec is the `jpeg` baseline (Pillow, 4:2:0 chroma) and its `jpeg_bytes`;
PSNR/SSIM are enhance_jax.metrics.image_quality on RGB (MAX = 255, SSIM with the
11x11 Gaussian window averaged over channels). The paper does not name its image,
so its column is a reference for the shape of the curve, not the same photo.
Writes experiments/results/jpeg_quality.md, jpeg_quality.png and jpeg_quality_crops.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import flags

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import common  # noqa: E402

_IMAGES = flags.DEFINE_list("images", None, "Image files (default: Set5 originals, see --profile).")

QUALITIES = tuple(range(95, 0, -5))
# Table I of the paper: quality -> (PSNR, SSIM, bytes).
PAPER = {95: (39.578, 0.96866, 39532), 90: (37.469, 0.95371, 27081), 85: (36.3, 0.94262, 21329),
         80: (35.541, 0.9339, 18149), 75: (34.956, 0.92656, 15901), 70: (34.557, 0.92153, 14450),
         65: (34.176, 0.91499, 13234), 60: (33.855, 0.90994, 12205), 55: (33.56, 0.90393, 11374),
         50: (33.261, 0.89813, 10737), 45: (32.97, 0.8926, 10121), 40: (32.603, 0.88531, 9377),
         35: (32.264, 0.87868, 8727), 30: (31.802, 0.86771, 7944), 25: (31.243, 0.85372, 7127),
         20: (30.514, 0.83233, 6231), 15: (29.542, 0.80236, 2594), 10: (27.923, 0.74988, 4191),
         5: (24.61, 0.6283, 3088)}
SET5 = ("baby", "bird", "butterfly", "head", "woman")


def score(image: np.ndarray, quality: int) -> dict:
  import jax.numpy as jnp
  from enhance_jax.baselines import classical
  from enhance_jax.metrics import image_quality
  out = classical.jpeg(image, quality)
  m = image_quality.psnr_ssim(jnp.asarray(out)[None], jnp.asarray(image)[None],
                              image_quality.Protocol(round_uint8=True))
  return {"psnr": float(m["psnr"][0]), "ssim": float(m["ssim"][0]),
          "bytes": classical.jpeg_bytes(image, quality), "out": out}


def main():
  from enhance_jax import plots
  from enhance_jax.data import imageio, paths
  profile = common.profile()
  results = common.results_dir()
  names = ("baby",) if profile == "cpu" else SET5
  files = _IMAGES.value or [str(paths.shared_data_dir() / "set5" / "original" / f"{n}_GT.bmp")
                            for n in names]
  images = [imageio.to_float(imageio.read_image(f, channels=3)) for f in files]
  rows, chart, crops = [], [], []
  for q in QUALITIES:
    s = [score(im, q) for im in images]
    psnr = float(np.mean([x["psnr"] for x in s]))
    ssim = float(np.mean([x["ssim"] for x in s]))
    nbytes = float(np.mean([x["bytes"] for x in s]))
    paper = PAPER[q]
    rows.append([str(q), f"{psnr:.3f}", f"{ssim:.5f}", f"{nbytes:.0f}",
                 f"{8 * nbytes / (images[0].shape[0] * images[0].shape[1]):.3f}" if len(images) == 1
                 else "–", f"{paper[0]:.3f}", f"{paper[1]:.5f}", str(paper[2])])
    chart.append({"quality": q, "PSNR (dB)": psnr, "SSIM x 40": 40 * ssim})
    if q in (95, 50, 20, 5):
      crops.append((q, s[0]["out"]))
  h, w = images[0].shape[:2]
  plots.bar_chart(chart, "quality", ["PSNR (dB)", "SSIM x 40"], results / "jpeg_quality.png",
                  title=f"JPEG quality vs PSNR / SSIM ({', '.join(Path(f).stem for f in files)})")
  cy, cx = h // 2 - 96, w // 2 - 96  # a 192x192 centre crop keeps the PNG small
  crop = lambda im: im[cy:cy + 192, cx:cx + 192]  # noqa: E731
  plots.image_grid([[crop(images[0])] + [crop(c) for _, c in crops]],
                   ["original"] + [f"q={q}" for q, _ in crops],
                   results / "jpeg_quality_crops.png", zoom_box=(72, 72, 48, 48))
  columns = ["quality", "PSNR (dB)", "SSIM", "bytes", "bits/pixel", "paper PSNR", "paper SSIM",
             "paper bytes"]
  ours = {int(r[0]): (float(r[1]), float(r[3])) for r in rows}
  drops = [q for q in QUALITIES[1:] if PAPER[q][2] < PAPER[q + 5][2] and
           QUALITIES.index(q) < len(QUALITIES) - 1 and PAPER[q][2] < PAPER[q - 5][2]]
  notes = (f"Image(s): {', '.join(Path(f).name for f in files)} ({w}x{h} RGB, Set5 originals "
           "from the shared data; the paper does not name its photo or its size, so bytes and "
           "PSNR are not the same image's). Ours: PSNR "
           f"{ours[95][0] - ours[20][0]:.2f} dB lower at quality 20 than at 95 and "
           f"{ours[20][0] - ours[5][0]:.2f} dB lower again at 5; bytes x"
           f"{ours[95][1] / ours[5][1]:.1f} from 5 to 95. Paper: "
           f"{PAPER[95][0] - PAPER[20][0]:.2f} dB and {PAPER[20][0] - PAPER[5][0]:.2f} dB; bytes x"
           f"{PAPER[95][2] / PAPER[5][2]:.1f}."
           + "".join(f" The paper's row at quality {q} has fewer bytes ({PAPER[q][2]}) than the "
                     f"rows on either side ({PAPER[q - 5][2]} at {q - 5}, {PAPER[q + 5][2]} at "
                     f"{q + 5})." for q in drops)
           + "\n\n![PSNR and SSIM by quality](jpeg_quality.png)\n\n"
           "![crops](jpeg_quality_crops.png)")
  common.write_table(results / "jpeg_quality.md", "JPEG: quality vs PSNR / SSIM / bytes",
                     columns, rows, notes=notes)


if __name__ == "__main__":
  common.run(main)
