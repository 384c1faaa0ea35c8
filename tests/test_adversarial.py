"""Adversarial training: GAN losses, labels, D steps, learning, exact resume, 1 vs 4 devices,
FSDP-sharded GAN state."""
from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.training import adversarial, checkpointing, tasks
from enhance_jax.training import mesh as mesh_lib

sp = lambda x: math.log1p(math.exp(x))  # noqa: E731  softplus, by hand


def _gan_config():
  """tiny_config (conftest) + a small BatchNorm PatchGAN, D twice per G step,
  soft and noisy labels, constant learning rates."""
  from enhance_jax.config import base_config
  c = base_config()
  c.model.kwargs = dict(features=4, depth=2, out_channels=3, residual=True)
  c.data.patch_size, c.data.eval_max_size = 32, 64
  c.train.batch_size, c.train.log_every = 4, 1
  c.eval.grid_images = 1
  c.optimizer.schedule, c.optimizer.warmup_steps = "constant", 0
  c.task = "gan"
  c.gan.disc.name = "patchgan"
  c.gan.disc.kwargs = dict(features=8, n_layers=2, normalization="batch")
  c.gan.d_steps = 2
  c.gan.real_label, c.gan.fake_label, c.gan.flip_prob = (0.8, 1.0), (0.0, 0.2), 0.1
  c.gan.adv_weight = 0.1
  c.gan.optimizer.learning_rate = 1e-3
  return c


@pytest.fixture
def gan_config():
  return _gan_config()


_COMPILED: dict = {}


def _compiled(n_devices: int, fsdp: int = 1):
  """(task, mesh, jitted step) for `n_devices` with a 'model' axis of `fsdp`,
  compiled once per module with the loop's shardings (the task's FSDP rule:
  params of >= 1024 elements sharded when fsdp > 1; batch over 'data')."""
  if (n_devices, fsdp) not in _COMPILED:
    config = _gan_config()
    config.mesh.fsdp, config.mesh.min_shard_size = fsdp, 1024
    mesh = mesh_lib.make_mesh(jax.devices()[:n_devices], fsdp=fsdp)
    task = tasks.build(config, num_steps=100)
    sharding = task.state_sharding(task.init_state(mesh), mesh)
    step = jax.jit(task.step_fn(), in_shardings=(sharding, mesh_lib.batch_sharded(mesh)),
                   out_shardings=(sharding, mesh_lib.replicated(mesh)), donate_argnums=(0,))
    _COMPILED[n_devices, fsdp] = (task, mesh, step)
  return _COMPILED[n_devices, fsdp]


def _batch(n=4, size=32, seed=0):
  return {"target": np.random.RandomState(seed).rand(n, size, size, 3).astype(np.float32)}


def _run(n_devices, n_steps, state=None, first=0, fsdp=1):
  """Runs steps first .. first + n_steps - 1 (batch s has seed s) from a fresh
  state or `state`; returns (state, host metrics per step)."""
  task, mesh, step = _compiled(n_devices, fsdp)
  state = task.init_state(mesh) if state is None else state
  history = []
  for s in range(first, first + n_steps):
    state, m = step(state, mesh_lib.global_batch(_batch(seed=s), mesh))
    history.append(jax.device_get(m))
  return state, history


# --- Losses and labels ----------------------------------------------------------


def test_gan_losses_match_hand_computed_values():
  real, fake = jnp.array([2.0, 0.0]), jnp.array([-1.0, 0.5])
  ones, zeros = jnp.ones(2), jnp.zeros(2)
  d = lambda kind, tr=ones, tf=zeros: float(  # noqa: E731
      adversarial.discriminator_loss(real, fake, tr, tf, kind))
  assert d("bce") == pytest.approx((sp(-2) + sp(0)) / 2 + (sp(-1) + sp(0.5)) / 2, rel=1e-6)
  assert d("lsgan") == pytest.approx((1 + 1) / 2 + (1 + 0.25) / 2, rel=1e-6)
  assert d("hinge") == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2, rel=1e-6)
  # Soft targets: t = 0.9 for real, 0.1 for fake.
  soft = d("bce", tr=jnp.full(2, 0.9), tf=jnp.full(2, 0.1))
  want = ((0.9 * sp(-2) + 0.1 * sp(2) + sp(0)) / 2
          + (0.1 * sp(1) + 0.9 * sp(-1) + 0.1 * sp(-0.5) + 0.9 * sp(0.5)) / 2)
  assert soft == pytest.approx(want, rel=1e-6)
  assert d("lsgan", tr=jnp.full(2, 0.9)) == pytest.approx((1.1 ** 2 + 0.81) / 2 + 1.25 / 2, rel=1e-6)
  g = lambda kind: float(adversarial.generator_loss(fake, kind))  # noqa: E731
  assert g("bce") == pytest.approx((sp(1) + sp(-0.5)) / 2, rel=1e-6)  # non-saturating
  assert g("lsgan") == pytest.approx((4 + 0.25) / 2, rel=1e-6)
  assert g("hinge") == pytest.approx(0.25, rel=1e-6)
  # Patch logits (N, h, w, 1) take the per-image target everywhere.
  patches = jnp.broadcast_to(real[:, None, None, None], (2, 3, 3, 1))
  assert float(adversarial.discriminator_loss(patches, patches, ones, zeros, "lsgan")) == \
      pytest.approx((1 + 1) / 2 + (4 + 0) / 2, rel=1e-6)
  with pytest.raises(ValueError, match="config.gan.loss"):
    adversarial.generator_loss(fake, "wgan")


def test_soft_and_noisy_label_statistics():
  n = 200_000
  key = jax.random.PRNGKey(0)
  t_real, t_fake = map(np.asarray, adversarial.labels(key, n, (0.8, 1.0), (0.0, 0.2)))
  assert t_real.min() >= 0.8 and t_real.max() <= 1.0 and abs(t_real.mean() - 0.9) < 2e-3
  assert t_fake.min() >= 0.0 and t_fake.max() <= 0.2 and abs(t_fake.mean() - 0.1) < 2e-3
  t_real, t_fake = map(np.asarray, adversarial.labels(key, n, (1.0, 1.0), (0.0, 0.0), 0.1))
  assert set(np.unique(t_real)) == {0.0, 1.0} and set(np.unique(t_fake)) == {0.0, 1.0}
  flipped_r, flipped_f = t_real == 0.0, t_fake == 1.0
  assert abs(flipped_r.mean() - 0.1) < 3e-3 and abs(flipped_f.mean() - 0.1) < 3e-3
  assert abs((flipped_r & flipped_f).mean() - 0.01) < 1.5e-3  # independent flips
  smooth, _ = adversarial.labels(key, 8, (0.9, 0.9), (0.0, 0.0))
  np.testing.assert_array_equal(np.asarray(smooth), np.full(8, 0.9, np.float32))


# --- The step ---------------------------------------------------------------------


def _int_scalars(tree):
  return [int(x) for x in jax.tree.leaves(jax.device_get(tree))
          if np.ndim(x) == 0 and np.issubdtype(np.asarray(x).dtype, np.integer)]


def test_d_steps_counted_and_both_losses_move():
  state, hist = _run(1, 4)
  assert int(state.step) == 4 and int(state.d_step) == 8  # D twice per G step
  assert _int_scalars(state.d_opt_state) and set(_int_scalars(state.d_opt_state)) == {8}
  assert _int_scalars(state.opt_state) and set(_int_scalars(state.opt_state)) == {4}
  for k in ("g_loss", "g_adv", "loss_l1", "d_loss", "d_real", "d_fake", "learning_rate",
            "d_learning_rate", "grad_norm", "d_grad_norm"):
    assert k in hist[0] and all(np.isfinite(h[k]) for h in hist), k
  assert abs(hist[-1]["g_loss"] - hist[0]["g_loss"]) > 1e-4
  assert abs(hist[-1]["d_loss"] - hist[0]["d_loss"]) > 1e-4
  assert int(state.bad_step) == -1
  assert float(hist[0]["d_learning_rate"]) == pytest.approx(1e-3)
  # The EMA of G trails G.
  assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in
             zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(state.params)))


def test_nonfinite_update_skipped_and_recorded():
  task, mesh, step = _compiled(1)
  state = task.init_state(mesh)
  before = jax.device_get((state.params, state.d_params))
  bad = _batch()
  bad["target"][0, 0, 0, 0] = np.nan
  state, _ = step(state, mesh_lib.global_batch(bad, mesh))
  after = jax.device_get((state.params, state.d_params))
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
    np.testing.assert_array_equal(a, b)
  assert int(state.bad_step) == 0 and int(state.step) == 1


def test_checkpoint_resume_is_bit_identical(tmp_path):
  straight, _ = _run(1, 4)
  half, _ = _run(1, 2)
  ckpt = checkpointing.Checkpointer(tmp_path / "ckpt", async_save=False)
  ckpt.save(half)
  ckpt.wait()
  task, mesh, _ = _compiled(1)
  restored = ckpt.restore(task.init_state(mesh))
  ckpt.close()
  assert int(restored.step) == 2 and int(restored.d_step) == 4
  resumed, _ = _run(1, 2, restored, first=2)
  a, b = jax.device_get(straight), jax.device_get(resumed)
  paths_a = jax.tree_util.tree_flatten_with_path(a)[0]
  leaves_b = jax.tree.leaves(b)
  assert len(paths_a) == len(leaves_b) > 20
  for (path, x), y in zip(paths_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                  err_msg=jax.tree_util.keystr(path))


def test_four_devices_match_one_device():
  assert len(jax.devices()) >= 4, "tests/conftest.py sets 4 host devices"
  _, one = _run(1, 2)
  _, four = _run(4, 2)
  for h1, h4 in zip(one, four):
    for k in ("g_loss", "g_adv", "loss_l1", "d_loss", "d_real", "d_fake"):
      np.testing.assert_allclose(h4[k], h1[k], atol=1e-5, rtol=1e-5, err_msg=k)


def test_fsdp_shards_gan_state_like_regression_and_matches_replicated():
  """mesh.fsdp=2 on 4 devices: G's and D's large parameters, their optimizer
  states and G's EMA are sharded over 'model' (small ones and D's batch stats
  replicated), and the losses equal the 1-device replicated run's."""
  task, mesh, _ = _compiled(4, fsdp=2)
  state = task.init_state(mesh)
  for field in ("params", "d_params", "opt_state", "d_opt_state", "ema_params"):
    leaves = [x for x in jax.tree.leaves(getattr(state, field)) if x.ndim]
    sharded = [x.size for x in leaves if mesh_lib.MODEL_AXIS in x.sharding.spec]
    assert sharded and min(sharded) >= 1024, field  # the large ones, and only those
    assert any(x.size < 1024 and x.sharding.is_fully_replicated for x in leaves), field
  assert jax.tree.leaves(state.d_model_state)  # BatchNorm statistics: replicated
  assert all(x.sharding.is_fully_replicated for x in jax.tree.leaves(state.d_model_state))
  assert max(x.size for x in jax.tree.leaves(state.d_params)) >= 4096
  _, one = _run(1, 3)
  fsdp_state, fsdp = _run(4, 3, fsdp=2)
  assert int(fsdp_state.step) == 3 and int(fsdp_state.d_step) == 6
  for h1, h4 in zip(one, fsdp):
    for k in ("g_loss", "g_adv", "loss_l1", "d_loss", "d_real", "d_fake"):
      np.testing.assert_allclose(h4[k], h1[k], atol=1e-5, rtol=1e-5, err_msg=k)


# --- The loop -----------------------------------------------------------------------


@pytest.mark.slow
def test_loop_trains_writes_samples_and_resumes_exactly(gan_config, tmp_path):
  from enhance_jax.training import loop
  c = gan_config
  c.gan.disc.name = "colorization_disc"  # per-image logits, (input, output) pairs
  c.gan.disc.kwargs = dict(features=(8, 8, 16, 16))
  c.data.degrade = "grayscale(channels=1)"
  c.model.kwargs = dict(features=4, depth=2, out_channels=3, residual=False)
  c.eval.ssim_threshold = 0.5
  c.train.num_steps, c.train.checkpoint_every, c.train.eval_every = 4, 2, 4
  summary = loop.train_and_evaluate(c, str(tmp_path / "a"))
  assert (tmp_path / "a" / "eval_grid.png").is_file()
  for k in ("ssim", "mse", "ssim_accuracy", "input_ssim", "input_ssim_accuracy"):
    assert k in summary["eval"], k
  rows = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
  train = [r for r in rows if r["split"] == "train"]
  assert {"g_loss", "d_loss", "d_real", "d_fake", "learning_rate", "d_learning_rate"} <= set(train[0])
  c.train.num_steps = 2
  loop.train_and_evaluate(c, str(tmp_path / "b"))
  c.train.num_steps = 4
  loop.train_and_evaluate(c, str(tmp_path / "b"))
  raw = lambda d: checkpointing.Checkpointer(d / "checkpoints", async_save=False).restore_raw(4)  # noqa: E731
  a, b = raw(tmp_path / "a"), raw(tmp_path / "b")
  assert set(a) >= {"params", "opt_state", "d_params", "d_opt_state", "ema_params", "d_step"}
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
