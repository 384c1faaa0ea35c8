"""enhance_jax.plots: curves from metrics.jsonl, bar charts, image grids write PNGs."""
from __future__ import annotations

import json

import numpy as np

from enhance_jax import plots


def _is_png(path) -> bool:
  return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_curves(tmp_path):
  log = tmp_path / "metrics.jsonl"
  rows = [{"step": s, "split": "train", "loss": 1.0 / s} for s in range(1, 20)]
  rows += [{"step": 10, "split": "eval", "psnr": 20.0}, {"step": 19, "split": "eval", "psnr": 22.0}]
  log.write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 2")  # truncated tail
  assert len(plots.read_jsonl(log)) == len(rows)
  assert _is_png(plots.plot_curves({"a": log, "b": log}, ["loss", "psnr"], tmp_path / "c.png"))


def test_bar_chart(tmp_path):
  rows = [{"m": "bm3d", "psnr": 28.5, "ssim": 0.8}, {"m": "dncnn", "psnr": 29.2, "ssim": None}]
  assert _is_png(plots.bar_chart(rows, "m", ["psnr", "ssim"], tmp_path / "b.png"))


def test_image_grid(tmp_path):
  rng = np.random.default_rng(0)
  big, small, gray = rng.random((32, 32, 3)), rng.random((8, 8, 3)), rng.random((32, 32, 1))
  out = plots.image_grid([[small, big, big], [gray, gray, gray]], ["lr", "sr", "hr"],
                         tmp_path / "g.png", zoom_box=(4, 4, 8, 8))
  assert _is_png(out)
