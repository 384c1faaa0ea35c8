"""Progress with ETA (evaluate, enhance), the training start-up summary and the warning when a
resume changes the schedule length."""
import io

import numpy as np

from enhance_jax import inference, models
from enhance_jax.training import logs


class _Clock:
  def __init__(self):
    self.t = 0.0

  def __call__(self):
    return self.t


def test_ticker_throttles_on_a_terminal_and_every_30s_otherwise():
  clock, out = _Clock(), io.StringIO()
  t = logs.Ticker("evaluate [x]", 10, stream=out, every=1.0, interactive=True, clock=clock)
  for i in range(1, 11):
    clock.t += 0.25  # 4 images/s: at most one line per second, plus the last
    t.update(i)
  t.finish()
  lines = out.getvalue().splitlines()
  assert t.lines == 4 and len(lines) == 5, lines  # after images 1, 5, 9 (1 s apart) and 10
  assert lines[0] == "evaluate [x] 1/10 images | 4.00 images/s | ETA 2s"
  assert [line.split(" images")[0] for line in lines[1:4]] == [
      "evaluate [x] 5/10", "evaluate [x] 9/10", "evaluate [x] 10/10"]
  assert "ETA 0s" in lines[3]
  assert lines[4] == "evaluate [x]: 10 images in 2.5s (4.00 images/s)"

  out = io.StringIO()  # not a terminal (a pipe, a log, a test): only the summary
  t = logs.Ticker("enhance", 3, stream=out, clock=clock)
  for i in range(1, 4):
    clock.t += 5
    t.update(i)
  t.finish()
  assert out.getvalue().splitlines() == ["enhance: 3 images in 15.0s (0.20 images/s)"]

  out = io.StringIO()  # not a terminal, a long loop: a line per 30 s for the log, then the summary
  t = logs.Ticker("build x", 10, stream=out, clock=clock)
  for i in range(1, 11):
    clock.t += 10
    t.update(i)
  t.finish()
  lines = out.getvalue().splitlines()
  assert [line.split(" images |")[0] for line in lines[:3]] == [
      "build x 3/10", "build x 6/10", "build x 9/10"], lines
  assert lines[0].endswith("| 0.10 images/s | ETA 1m10s"), lines[0]
  assert lines[3:] == ["build x: 10 images in 100.0s (0.10 images/s)"]


def test_enhancer_reports_tiles():
  import jax
  model = models.get("cnn", features=4, depth=2, out_channels=1)
  variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 8, 8, 1), np.float32))
  seen = []
  e = inference.Enhancer(model, variables, channels=1, tile=10, overlap=2, tile_batch=2)
  e(np.zeros((25, 18, 1), np.float32), on_tiles=lambda d, n: seen.append((d, n)))
  assert seen == [(2, 6), (4, 6), (6, 6)]  # 3 x 2 tiles, 2 per forward pass


def test_evaluate_progress_summary(tiny_config, tmp_path, capsys):
  from enhance_jax import api
  c = tiny_config
  c.train.num_steps, c.train.eval_every, c.train.checkpoint_every = 2, 2, 2
  wd = tmp_path / "run"
  api.train(c, str(wd))
  out = capsys.readouterr().out
  assert "model unet: " in out and " parameters (task regression" in out
  assert "data embedded: train split 'train'" in out and "eval sets: eval 2 images" in out
  assert "devices: " in out and "initial weights: random initialisation (seed 0)" in out
  api.evaluate(c, str(wd))
  err = capsys.readouterr().err
  assert "evaluate [eval]: 2 images in " in err

  c.train.num_steps = 4  # resume with a longer schedule: warned, and said where it resumed
  api.train(c, str(wd))
  cap = capsys.readouterr()
  assert "warning: train.num_steps changed from 2" in cap.err and "to 4" in cap.err
  assert "initial weights: resumed from " in cap.out and "steps: 2 -> 4" in cap.out
  api.train(c, str(wd))  # same num_steps: no warning
  assert "warning" not in capsys.readouterr().err
