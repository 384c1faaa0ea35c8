"""What the accelerator run relies on, checked on CPU: bfloat16 compute trains with float32
parameters and loss, and experiments/accelerator/run.sh's --cpu_dry_run passes end to end."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enhance_jax.training import checkpointing, components, losses, optim, steps
from enhance_jax.training import state as state_lib
from enhance_jax.training import loop

REPO = Path(__file__).resolve().parents[1]


def test_bfloat16_step_keeps_float32_params_optimizer_state_and_loss(tiny_config):
  c = tiny_config
  c.train.dtype = "bfloat16"
  model = components.model(c)
  tx, lr = optim.build(c.optimizer, c.train.num_steps)
  p = c.data.patch_size
  st = state_lib.create_train_state(model, tx, jnp.zeros((1, p, p, 3)), 0, ema=True)
  batch = {"target": jnp.zeros((c.train.batch_size, p, p, 3))}
  new, metrics = jax.eval_shape(lambda s, b: steps.train_step(
      s, b, model=model, tx=tx, loss_fn=losses.build(c.loss), degrade=components.degrade(c),
      lr_schedule=lr, ema_decay=0.9), st, batch)
  for tree in (new.params, new.opt_state, new.ema_params):
    floats = [x.dtype for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert floats and all(d == jnp.float32 for d in floats), floats
  assert metrics["loss"].dtype == jnp.float32
  # The compute really is bfloat16: the step's jaxpr holds bf16 convolutions.
  jaxpr = str(jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(
      st.variables(), batch["target"]))
  assert "bf16" in jaxpr


def test_bfloat16_training_loss_goes_down_with_float32_params(tiny_config, tmp_path):
  c = tiny_config
  c.train.dtype = "bfloat16"
  c.train.num_steps = 30
  c.train.eval_every = 30
  c.train.checkpoint_every = 30
  c.optimizer.learning_rate = 5e-3
  c.optimizer.schedule = "constant"
  c.data.degrade = "low_light(exposure=0.15, gamma=1.6)"
  loop.train_and_evaluate(c, tmp_path)
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  loss = {r["step"]: r["loss"] for r in rows if r["split"] == "train"}
  assert all(np.isfinite(v) for v in loss.values())
  first = np.mean([loss[s] for s in range(1, 6)])
  last = np.mean([loss[s] for s in range(26, 31)])
  assert last < 0.8 * first, loss
  ckpt = checkpointing.Checkpointer(tmp_path / "checkpoints", async_save=False)
  tree = ckpt.restore_raw()
  ckpt.close()
  assert all(np.asarray(x).dtype == np.float32 for x in jax.tree.leaves(tree["params"]))


@pytest.mark.slow
def test_accelerator_script_cpu_dry_run(shared_data, tmp_path):
  """experiments/accelerator/run.sh --cpu_dry_run: every phase (env, peak, step, loader,
  train + BSD68 evaluation) runs at tiny sizes and lands in accelerator.json. The budget is
  generous so a loaded CI machine finishes too (idle, the dry run takes about a minute)."""
  out = tmp_path / "out"
  env = {**os.environ, "PYTHON": sys.executable, "ENHANCE_JAX_DATA": str(shared_data)}
  proc = subprocess.run([str(REPO / "experiments/accelerator/run.sh"), str(out), "--cpu_dry_run",
                         "--budget_s=700", f"--scratch={tmp_path / 'scratch'}"],
                        env=env, capture_output=True, text=True, timeout=850)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert sorted(p.name for p in out.iterdir()) == ["accelerator.json", "run.log"]
  r = json.loads((out / "accelerator.json").read_text())
  p = r["phases"]
  assert list(p) == ["env", "peak", "step", "loader", "train"] and r["mode"] == "cpu_dry_run"
  for name in ("env", "peak"):
    assert p[name]["rc"] == 0 and not p[name]["timed_out"], p[name]
  assert p["env"]["pins"]["jax>=0.10,<0.12"]["admitted"] is True
  # PyTorch is an optional benchmark dependency (extra `bench`): its columns only when installed.
  has_torch = importlib.util.find_spec("torch") is not None
  assert p["peak"]["float32"]["jax"] > 0 and (not has_torch or p["peak"]["bfloat16"]["torch"] > 0)
  jobs = p["step"]["jobs"]
  for job in jobs.values():
    assert job["rc"] == 0 and not job["timed_out"], job
  rows = {(row["model"], row["dtype"]): row for job in jobs.values() for row in job["rows"]}
  assert set(rows) == {("dncnn", "bfloat16"), ("dncnn", "float32"), ("unet", "float32"),
                       ("srcnn", "float32"), ("mirnet", "float32")}
  for row in rows.values():
    assert row["ours_s"] > 0 and 0 < row["ours_fraction_of_peak"]
    assert not has_torch or row["torch_s"] > 0
  assert "WARNING" not in (out / "run.log").read_text()  # parameter counts agree
  for w in ("0", "2"):
    assert p["loader"]["runs"][w]["rc"] == 0 and p["loader"]["runs"][w]["patches_per_s"] > 0
  t = p["train"]
  assert t["train"]["rc"] == 0 and not t["train"]["timed_out"] and t["steps_done"] == 6
  assert t["evaluate"]["rc"] == 0 and t["bsd68_s25"]["num_images"] == 2
  assert np.isfinite(t["bsd68_s25"]["psnr"])
  # The run's own last-step score and the evaluate entry point's agree (same weights, noise).
  assert t["bsd68_s25_evaluate"]["psnr"] == pytest.approx(t["bsd68_s25"]["psnr"], abs=1e-4)
