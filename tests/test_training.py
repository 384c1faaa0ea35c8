"""The trainer: loss goes down, 4 devices == 1 device, resume == uninterrupted, NaN policy."""
import json

import jax
import numpy as np
import pytest

from enhance_jax.training import checkpointing, loop


def _losses(workdir):
  rows = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}


def _final_state(workdir):
  ckpt = checkpointing.Checkpointer(workdir / "checkpoints", async_save=False)
  tree = ckpt.restore_raw()
  ckpt.close()
  return tree


def _assert_trees_equal(a, b):
  la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
  assert [p for p, _ in la] == [p for p, _ in lb]
  for (path, x), (_, y) in zip(la, lb):
    np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


def test_loss_goes_down(tiny_config, tmp_path):
  c = tiny_config
  c.train.num_steps = 40
  c.train.eval_every = 40
  c.train.checkpoint_every = 40
  c.optimizer.learning_rate = 5e-3
  c.optimizer.schedule = "constant"
  c.data.degrade = "low_light(exposure=0.15, gamma=1.6)"
  summary = loop.train_and_evaluate(c, tmp_path)
  losses = _losses(tmp_path)
  first = np.mean([losses[s] for s in range(1, 6)])
  last = np.mean([losses[s] for s in range(36, 41)])
  assert last < 0.75 * first, losses
  assert list(summary) == ["eval"]  # no config.evals: one set named "eval"
  assert summary["eval"]["num_images"] == 2
  assert summary["eval"]["psnr"] > summary["eval"]["input_psnr"]
  assert (tmp_path / "eval_grid.png").stat().st_size > 0
  report = json.loads((tmp_path / "eval_metrics.json").read_text())
  assert list(report) == ["eval"] and report["eval"]["num_images"] == 2
  assert report["eval"]["step"] == 40 and len(report["eval"]["per_image"]) == 2


def test_four_devices_match_one(tiny_config, tmp_path):
  assert jax.device_count() >= 4, "conftest sets 4 virtual CPU devices"
  c = tiny_config
  c.train.num_steps = 3
  c.train.eval_every = 3
  one = loop.train_and_evaluate(c, tmp_path / "one", devices=jax.devices()[:1])
  four = loop.train_and_evaluate(c, tmp_path / "four", devices=jax.devices()[:4])
  l1, l4 = _losses(tmp_path / "one"), _losses(tmp_path / "four")
  assert l1.keys() == l4.keys()
  for s in l1:
    assert abs(l1[s] - l4[s]) < 1e-5, (s, l1[s], l4[s])
  assert abs(one["eval"]["psnr"] - four["eval"]["psnr"]) < 1e-3


def test_resume_equals_uninterrupted(tiny_config, tmp_path):
  c = tiny_config
  loop.train_and_evaluate(c, tmp_path / "full")
  c_half = c.copy_and_resolve_references()
  c_half.train.num_steps = 3
  loop.train_and_evaluate(c_half, tmp_path / "split")
  loop.train_and_evaluate(c, tmp_path / "split")  # resumes at step 3
  _assert_trees_equal(_final_state(tmp_path / "full"), _final_state(tmp_path / "split"))
  assert _losses(tmp_path / "full") == _losses(tmp_path / "split")


def test_nan_stop_names_step_and_checkpoint(tiny_config, tmp_path):
  c = tiny_config
  c.optimizer.learning_rate = 1e30
  c.optimizer.grad_clip_norm = 0.0
  c.optimizer.warmup_steps = 0
  c.optimizer.schedule = "constant"
  with pytest.raises(loop.NonFiniteLossError, match=r"at step \d+.*Last good checkpoint"):
    loop.train_and_evaluate(c, tmp_path)


def test_nan_skip_keeps_parameters_finite(tiny_config, tmp_path):
  c = tiny_config
  c.optimizer.learning_rate = 1e30
  c.optimizer.grad_clip_norm = 0.0
  c.optimizer.warmup_steps = 0
  c.optimizer.schedule = "constant"
  c.train.nan_policy = "skip"
  # Most updates are skipped: the run ends with an error (max_skipped_fraction), but the saved
  # final state holds only the updates that were finite.
  with pytest.raises(loop.NonFiniteLossError, match="skipped, more than"):
    loop.train_and_evaluate(c, tmp_path)
  state = _final_state(tmp_path)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state["params"]))
  assert int(state["bad_step"]) >= 0


def _adam_float64(grads, b1, b2, eps, lr):
  """PyTorch's Adam (torch.optim.Adam, its step in float64): the parameter deltas."""
  m = v = np.zeros_like(grads[0], np.float64)
  out = []
  for t, g in enumerate(grads, 1):
    g = g.astype(np.float64)
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
    out.append(-lr / (1 - b1 ** t) * m / denom)
  return out


@pytest.mark.parametrize("b1,b2", [(0.9, 0.999), (0.9, 0.9999), (0.0, 0.99)])
def test_adam_bias_correction_matches_float64(b1, b2):
  """optim.build's Adam updates equal a float64 Adam to 1e-6 relative (norm of the error over
  the norm of the update) over 30 steps; optax's own is 6.5e-6 off at step 1 for b2 = 0.999
  and 1e-4 for 0.9999 (its 1 - b2^t in float32). Its state has optax.adam's tree structure
  (checkpoints interchangeable)."""
  import ml_collections
  import optax
  from enhance_jax.training import optim
  cfg = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, schedule="constant", warmup_steps=0, end_lr_factor=1.0,
      weight_decay=0.0, b1=b1, b2=b2, grad_clip_norm=0.0, grad_clip_per_tensor=False,
      boundaries=(0.5,), momentum=0.9))
  tx, _ = optim.build(cfg, 30)
  rng = np.random.default_rng(0)
  grads = [rng.standard_normal(64).astype(np.float32) * 10.0 ** rng.uniform(-4, 0)
           for _ in range(30)]
  want = _adam_float64(grads, b1, b2, 1e-8, 1e-3)
  params = jax.numpy.zeros(64)
  # optim.build before it had its own Adam: optax.adam of the schedule, in a chain
  before = optax.chain(optax.adam(optax.constant_schedule(1e-3), b1=b1, b2=b2))
  for name, t in (("ours", tx), ("optax", before)):
    state = t.init(params)
    errs = []
    for g, w in zip(grads, want):
      u, state = jax.jit(t.update)(jax.numpy.asarray(g), state)
      errs.append(float(np.linalg.norm(np.asarray(u, np.float64) - w) / np.linalg.norm(w)))
    if name == "ours":
      assert max(errs) < 1e-6, errs
      ours_structure = jax.tree.structure(state)
    else:
      if b2 > 0.99:
        assert errs[0] > 5e-6, errs[0]  # what ours corrects
      assert jax.tree.structure(state) == ours_structure
