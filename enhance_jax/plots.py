"""Plots for the studies (matplotlib, Agg): training curves, bar charts, image grids.

    plot_curves({"cnn": "runs/cnn/metrics.jsonl"}, ["loss", "psnr"], "curves.png")
    bar_chart(rows, "method", ["psnr"], "bars.png")
    image_grid([[noisy, ours, target]], ["input", "ours", "target"], "grid.png",
               zoom_box=(y, x, h, w))
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def read_jsonl(path: str | Path) -> list[dict]:
  """The rows of a metrics.jsonl file (blank and truncated last lines skipped)."""
  rows = []
  for line in Path(path).read_text().splitlines():
    line = line.strip()
    if not line:
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      continue  # a line still being written
  return rows


def plot_curves(jsonl_paths: dict[str, str | Path], keys: Sequence[str], out_png: str | Path,
                title: str = "") -> Path:
  """One panel per metric key: value vs step, per run label and split.

  Rows are {"step", "split": "train"|"eval", key: value, ...}; train curves are
  solid, eval curves dashed with markers, one colour per run.
  """
  plt = _plt()
  runs = {label: read_jsonl(p) for label, p in jsonl_paths.items()}
  fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, key in zip(axes[0], keys):
    for i, (label, rows) in enumerate(runs.items()):
      for split, style in (("train", dict(ls="-")), ("eval", dict(ls="--", marker="o", ms=3))):
        pts = [(r["step"], r[key]) for r in rows
               if r.get("split", "train") == split and key in r and r.get("step") is not None
               and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
        if pts:
          xs, ys = zip(*sorted(pts))
          ax.plot(xs, ys, color=colors[i % len(colors)], label=f"{label} ({split})", **style)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
  if title:
    fig.suptitle(title)
  return _save(fig, out_png)


def bar_chart(rows: Sequence[dict], x_key: str, y_keys: Sequence[str], out_png: str | Path,
              title: str = "", ylim: tuple[float, float] | None = None) -> Path:
  """Grouped bars: one group per row (labelled by row[x_key]), one bar per y key.

  Missing or non-numeric values are left out; values are printed above bars.
  """
  plt = _plt()
  labels = [str(r[x_key]) for r in rows]
  n, k = len(rows), len(y_keys)
  width = 0.8 / max(k, 1)
  fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * n * max(k, 1) + 1.5), 3.8))
  for j, key in enumerate(y_keys):
    xs, ys = [], []
    for i, r in enumerate(rows):
      v = r.get(key)
      if isinstance(v, (int, float)) and math.isfinite(v):
        xs.append(i + (j - (k - 1) / 2) * width)
        ys.append(float(v))
    bars = ax.bar(xs, ys, width, label=key)
    for b, v in zip(bars, ys):
      ax.annotate(f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}", (b.get_x() + b.get_width() / 2,
                  b.get_height()), ha="center", va="bottom", fontsize=6)
  ax.set_xticks(range(n))
  ax.set_xticklabels(labels, rotation=30 if n > 4 else 0, ha="right" if n > 4 else "center",
                     fontsize=8)
  if ylim is not None:
    ax.set_ylim(*ylim)
  if k > 1:
    ax.legend(fontsize=8)
  elif k == 1:
    ax.set_ylabel(y_keys[0])
  ax.grid(axis="y", alpha=0.3)
  if title:
    ax.set_title(title, fontsize=9)
  return _save(fig, out_png)


def image_grid(images: Sequence[Sequence[np.ndarray]], labels: Sequence[str],
               out_png: str | Path, zoom_box: tuple[int, int, int, int] | None = None,
               row_labels: Sequence[str] | None = None) -> Path:
  """A grid of HWC float images in [0, 1]: images[row][col], columns titled by `labels`.

  `zoom_box` = (y, x, h, w) in the coordinates of each row's last image adds,
  under every row, the same box cropped from each image and enlarged (images
  of another size, e.g. an SR input, are cropped at the scaled box) and draws
  the box on the full images.
  """
  plt = _plt()
  from matplotlib.patches import Rectangle
  nrows = len(images)
  ncols = max(len(r) for r in images)
  per_row = 2 if zoom_box else 1
  fig, axes = plt.subplots(nrows * per_row, ncols, figsize=(2.6 * ncols, 2.6 * nrows * per_row),
                           squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i, row in enumerate(images):
    ref = np.asarray(row[-1])
    for j, im in enumerate(row):
      im = _display(im)
      ax = axes[i * per_row, j]
      ax.imshow(im, cmap="gray" if im.ndim == 2 else None, vmin=0, vmax=1,
                interpolation="nearest")
      if i == 0 and j < len(labels):
        ax.set_title(labels[j], fontsize=9)
      if j == 0 and row_labels is not None:
        ax.text(-0.05, 0.5, row_labels[i], transform=ax.transAxes, rotation=90, ha="right",
                va="center", fontsize=8)
      if zoom_box:
        y, x, h, w = _scaled_box(zoom_box, ref.shape, im.shape)
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, ec="red", lw=1))
        zax = axes[i * per_row + 1, j]
        zax.imshow(im[y:y + h, x:x + w], cmap="gray" if im.ndim == 2 else None, vmin=0, vmax=1,
                   interpolation="nearest")
  fig.tight_layout()
  return _save(fig, out_png, tight=False)


def _display(im) -> np.ndarray:
  im = np.clip(np.asarray(im, np.float32), 0.0, 1.0)
  return im[..., 0] if im.ndim == 3 and im.shape[-1] == 1 else im


def _scaled_box(box, ref_shape, shape) -> tuple[int, int, int, int]:
  y, x, h, w = box
  sy, sx = shape[0] / ref_shape[0], shape[1] / ref_shape[1]
  return (int(y * sy), int(x * sx), max(1, int(round(h * sy))), max(1, int(round(w * sx))))


def _save(fig, out_png, tight: bool = True) -> Path:
  plt = _plt()
  out = Path(out_png)
  out.parent.mkdir(parents=True, exist_ok=True)
  if tight:
    fig.tight_layout()
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out
