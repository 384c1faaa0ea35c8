"""Classical baselines through `python -m enhance_jax.evaluate` (baselines.as_model)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from enhance_jax import config as config_lib

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "enhance_jax" / "configs" / "baselines"


def _run(tmp_path, config: str, *overrides: str) -> dict:
  out = tmp_path / "metrics.json"
  cmd = [sys.executable, "-m", "enhance_jax.evaluate", f"--config={CONFIGS / config}",
         f"--output_json={out}", *overrides]
  subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True, timeout=900)
  return json.loads(out.read_text())["eval"]  # {set name: result}; these configs have one set


def test_bm3d_beats_noisy_input(tmp_path):
  r = _run(tmp_path, "bm3d_bsd68_s25.py", "--config.data.max_eval_images=2",
           "--config.data.eval_max_size=96")
  assert {"psnr", "ssim", "input_psnr", "input_ssim", "num_images", "per_image", "weights",
          "protocol", "split"} <= set(r)
  assert r["num_images"] == 2 and len(r["per_image"]) == 2
  assert r["weights"] == "baseline bm3d"
  assert r["psnr"] > r["input_psnr"] + 5 and r["ssim"] > r["input_ssim"]
  assert (tmp_path / "metrics_grid.png").exists()  # beside --output_json, named after it


def test_bicubic_set5_matches_published(tmp_path):
  r = _run(tmp_path, "bicubic_set5_x4.py")
  assert r["num_images"] == 5
  assert abs(r["psnr"] - 28.42) < 0.05  # MATLAB bicubic, Y, 4 px shaved


def test_every_baseline_config_loads():
  from enhance_jax.baselines import as_model
  for name in config_lib.shipped_configs():
    if not name.startswith("baselines/"):
      continue
    c = config_lib.load_config(name)
    model = as_model(c)
    assert model.name == c.baseline.name


def test_as_model_rejects_unknown_parameter():
  from enhance_jax.baselines import as_model
  c = config_lib.load_config("baselines/median_bsd68_s25")
  c.baseline.kwargs.radius = 2
  with pytest.raises(ValueError, match="radius"):
    as_model(c)
