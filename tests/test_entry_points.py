"""The absl entry points end to end: train -> evaluate -> enhance, and tiling."""
import json

import jax
import numpy as np
import pytest
from PIL import Image

from enhance_jax import inference, models
from enhance_jax.data import imageio
from subprocess_env import run_entry_point

TINY = ["--config.model.kwargs.features=4", "--config.model.kwargs.depth=2",
        "--config.data.patch_size=32", "--config.train.batch_size=4",
        "--config.train.num_steps=4", "--config.train.log_every=2", "--config.train.eval_every=4",
        "--config.train.checkpoint_every=2", "--config.data.eval_max_size=64",
        "--config.eval.grid_images=1"]




def test_train_evaluate_enhance(tmp_path):
  wd = tmp_path / "run"
  out = run_entry_point("train", f"--workdir={wd}", *TINY).stdout
  assert "step 4/4" in out and "eval_grid.png" in out
  for name in ("metrics.jsonl", "eval_metrics.json", "eval_grid.png", "config.json",
               "run_info.json"):
    assert (wd / name).exists(), name
  assert (wd / "checkpoints" / "4").is_dir()
  assert any(d.name.startswith("events") for d in (wd / "tensorboard").iterdir())
  trained = json.loads((wd / "eval_metrics.json").read_text())["eval"]  # the one implicit set
  assert json.loads((wd / "run_info.json").read_text())["starts"][0]["argv"][1:] == \
      [f"--workdir={wd}", *TINY]

  report = tmp_path / "report.json"
  run_files = {n: (wd / n).read_bytes() for n in ("eval_metrics.json", "eval_grid.png")}
  run_entry_point("evaluate", f"--workdir={wd}", f"--output_json={report}")
  assert {n: (wd / n).read_bytes() for n in run_files} == run_files  # the run's own are kept
  own = json.loads((wd / "eval" / "eval" / "eval_metrics.json").read_text())["eval"]
  assert (wd / "eval" / "eval" / "eval_grid.png").is_file()
  metrics = json.loads(report.read_text())["eval"]
  for k in ("psnr", "ssim", "input_psnr", "input_ssim"):
    assert abs(metrics[k] - trained[k]) < 1e-4, k  # same checkpoint, same eval noise
  assert metrics["num_images"] == 2 and own["psnr"] == metrics["psnr"]

  img = np.random.default_rng(0).integers(0, 255, (70, 90, 4), dtype=np.uint8)
  Image.fromarray(img, "RGBA").save(tmp_path / "in.png")
  run_entry_point("enhance", f"--workdir={wd}", f"--input={tmp_path / 'in.png'}",
       f"--output={tmp_path / 'out.png'}", "--tile=48", "--overlap=8")
  with Image.open(tmp_path / "out.png") as res:
    assert res.mode == "RGBA" and res.size == (90, 70)
    np.testing.assert_array_equal(np.asarray(res)[..., 3], img[..., 3])


def test_enhance_rejects_corrupt_file(tmp_path):
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
  proc = run_entry_point("enhance", "--workdir=/nonexistent", f"--input={bad}",
              f"--output={tmp_path / 'o.png'}", check=False)
  assert proc.returncode != 0
  assert not (tmp_path / "o.png").exists()


def test_tiled_equals_whole_image():
  model = models.get("cnn", features=8, depth=3, out_channels=1)
  x = np.random.default_rng(0).random((1, 16, 16, 1), np.float32)
  variables = model.init(jax.random.PRNGKey(0), x)
  image = np.random.default_rng(1).random((100, 75, 1), np.float32)
  whole = inference.Enhancer(model, variables, channels=1, tile=0)(image)
  tiled = inference.Enhancer(model, variables, channels=1, tile=40, overlap=12, tile_batch=3)(image)
  # Receptive field 7 < overlap: every pixel sees the same context in some tile.
  np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("content,problem", [
    (b"", "empty"),
    (b"not an image at all", "not a recognised image"),
])
def test_read_image_errors_name_the_file(tmp_path, content, problem):
  f = tmp_path / "x.png"
  f.write_bytes(content)
  with pytest.raises(imageio.ImageReadError, match=f"{f}.*{problem}"):
    imageio.read_image(f)


def test_truncated_png_is_reported(tmp_path):
  f = tmp_path / "t.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(f)
  f.write_bytes(f.read_bytes()[:600])
  with pytest.raises(imageio.ImageReadError, match=f"{f}: (truncated|corrupt)"):
    imageio.read_image(f)


def test_modes_are_handled(tmp_path):
  rgba = np.random.default_rng(0).integers(0, 255, (5, 6, 4), dtype=np.uint8)
  Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
  np.testing.assert_array_equal(imageio.read_image(tmp_path / "a.png"), rgba[..., :3])
  g16 = np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000
  Image.fromarray(g16).save(tmp_path / "g.png")
  assert imageio.read_image(tmp_path / "g.png", keep_16bit=True).dtype == np.uint16
  got8 = imageio.read_image(tmp_path / "g.png")
  np.testing.assert_array_equal(got8[..., 0], np.round(g16 / 65535 * 255).astype(np.uint8))
  assert imageio.read_image(tmp_path / "g.png", channels=3).shape == (5, 6, 3)
