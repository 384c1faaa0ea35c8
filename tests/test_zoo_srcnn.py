"""zoo/srcnn_x3: its training degradation makes Set5's shipped x3 LR images bit for bit, its
loss is MSE on MATLAB Y, and the config trains a few steps and scores both named sets."""
from __future__ import annotations

import json
import math

import jax
import numpy as np
import pytest

from enhance_jax.config import load_config


def test_mse_y_is_mse_on_matlab_y():
  from enhance_jax.training import losses
  rng = np.random.default_rng(0)
  pred, target = rng.uniform(size=(2, 5, 6, 3)), rng.uniform(size=(2, 5, 6, 3))
  luma = lambda x: (16 + x @ np.array([65.481, 128.553, 24.966])) / 255  # noqa: E731
  want = np.mean((luma(pred) - luma(target)) ** 2)
  total, parts = losses.build("mse_y")(jax.numpy.asarray(pred, "float32"),
                                       jax.numpy.asarray(target, "float32"))
  assert float(total) == pytest.approx(want, rel=1e-5) and "mse_y" in parts
  assert float(total) != pytest.approx(np.mean((pred - target) ** 2), rel=1e-2)
  gray = jax.numpy.asarray(pred[..., :1], "float32")  # 1 channel: taken as Y
  assert float(losses.build("mse_y")(gray, gray + 0.1)[0]) == pytest.approx(0.01, rel=1e-5)


def test_lr_degradation_is_set5s(shared_data):
  """The training LR (config LR spec) of each Set5 x3 HR image equals the shipped LR PNG."""
  from PIL import Image

  from enhance_jax.configs.zoo import srcnn_x3
  from enhance_jax.data import degradations
  down = degradations.build(srcnn_x3.LR)
  hrs = sorted((shared_data / "set5" / "image_SRF_3").glob("*_HR.png"))
  assert len(hrs) == 5
  for hr in hrs:
    x = np.asarray(Image.open(hr).convert("RGB"), np.float32)[None] / 255
    lr = np.asarray(Image.open(hr.with_name(hr.name.replace("_HR", "_LR"))).convert("RGB"))
    got = np.asarray(down({"target": x}, jax.random.key(0))["input"][0])
    np.testing.assert_array_equal(np.round(got * 255).astype(np.uint8), lr, err_msg=hr.name)


def test_srcnn_x3_trains_three_steps(tmp_path, shared_data):
  del shared_data
  from enhance_jax.training import loop
  c = load_config("zoo/srcnn_x3", "init=random", {
      "train.batch_size": 4, "train.num_steps": 3, "train.log_every": 1, "train.eval_every": 3,
      "train.checkpoint_every": 3, "data.patch_size": 24,
      "evals.set5_x3.data.max_eval_images": 1, "evals.set5_x3.data.eval_max_size": 48,
      "evals.test_bsds500_x3.data.max_eval_images": 1,
      "evals.test_bsds500_x3.data.eval_max_size": 48, "data.cache_mb": 0})
  assert c.model.name == "srcnn" and tuple(c.model.kwargs.kernel_sizes) == (9, 5, 5)
  assert c.loss == "mse_y" and not c.init_checkpoint
  assert load_config("zoo/srcnn_x3").init_checkpoint.endswith("zoo/srcnn_x3/variables")
  summary = loop.train_and_evaluate(c, str(tmp_path), devices=jax.devices()[:1])
  assert list(summary) == ["set5_x3", "test_bsds500_x3"]  # the card's benchmark is the first
  assert all(math.isfinite(s["psnr"]) and s["num_images"] == 1 for s in summary.values())
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train = [r for r in rows if r["split"] == "train"]
  assert len(train) == 3 and all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in train)
