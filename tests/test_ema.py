"""EMA of the parameters and of the BatchNorm statistics, and its warm-up."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enhance_jax import models
from enhance_jax.training import losses, steps
from enhance_jax.training import state as state_lib


def _run(decay, warmup, n=5):
  """n regression steps of a tiny BN DnCNN; returns the states after each step."""
  x = jax.random.uniform(jax.random.key(0), (4, 12, 12, 1))
  batch = {"input": x, "target": jnp.clip(x + 0.1, 0, 1)}
  model = models.get("dncnn", depth=4, features=8)  # BatchNorm in the middle layers
  tx = optax.adam(1e-2)
  state = state_lib.create_train_state(model, tx, x, seed=0, ema=True)
  step = jax.jit(lambda s: steps.train_step(
      s, batch, model=model, tx=tx, loss_fn=losses.build("l2"), degrade=lambda b, k: b,
      lr_schedule=lambda t: 1e-2, ema_decay=decay, ema_warmup=warmup)[0])
  states = [state]
  for _ in range(n):
    states.append(step(states[-1]))
  return model, x, states


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_averages_params_and_batch_stats(warmup):
  decay = 0.9
  _, _, states = _run(decay, warmup)
  ema_p = jax.tree.map(np.asarray, states[0].params)
  ema_s = jax.tree.map(np.asarray, states[0].model_state)
  for t, s in enumerate(states[1:]):
    d = min(decay, (1 + t) / (10 + t)) if warmup else decay
    ema_p = jax.tree.map(lambda e, p: d * e + (1 - d) * np.asarray(p), ema_p, s.params)
    ema_s = jax.tree.map(lambda e, p: d * e + (1 - d) * np.asarray(p), ema_s, s.model_state)
  last = states[-1]
  for a, b in zip(jax.tree.leaves(last.ema_params), jax.tree.leaves(ema_p)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(last.ema_model_state), jax.tree.leaves(ema_s)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # The EMA statistics differ from the raw model's (which were updated 5 times).
  raw, ema = last.model_state["batch_stats"], last.ema_model_state["batch_stats"]
  assert max(float(jnp.abs(a - b).max()) for a, b in
             zip(jax.tree.leaves(raw), jax.tree.leaves(ema))) > 1e-4


def test_ema_evaluation_uses_ema_statistics():
  model, x, states = _run(0.9, False)
  last = states[-1]
  v = last.variables(use_ema=True)
  assert v["params"] is last.ema_params and v["batch_stats"] is last.ema_model_state["batch_stats"]
  raw = last.variables(use_ema=False)
  assert raw["batch_stats"] is last.model_state["batch_stats"]
  mixed = {"params": last.ema_params, "batch_stats": last.model_state["batch_stats"]}
  assert float(jnp.abs(model.apply(v, x) - model.apply(mixed, x)).max()) > 1e-5


def test_warmup_decay_schedule():
  got = [float(state_lib.ema_decay_at(0.999, jnp.array(t), True)) for t in (0, 1, 10, 10_000)]
  np.testing.assert_allclose(got, [0.1, 2 / 11, 11 / 20, 0.999], rtol=1e-6)
  assert float(state_lib.ema_decay_at(0.99, jnp.array(0), False)) == pytest.approx(0.99)
