"""The model zoo: every published card's numbers are what `evaluate --config=zoo/NAME` gives,
and experiments/zoo/publish.py turns a finished run into a card (weights that round-trip,
files, the after-N-minutes points, no overwrite without --force)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # plain pytest omits the cwd; experiments/ is not installed
  sys.path.insert(0, str(ROOT))

from experiments.zoo import card as card_lib  # noqa: E402
from subprocess_env import subprocess_env  # noqa: E402


def _published_cards():
  return sorted(p.parent.name for p in card_lib.zoo_root().glob("*/card.json"))


@pytest.mark.parametrize("name", _published_cards() or ["(none published)"])
def test_card_reproduces_on_its_second_set(name, shared_data):
  """`api.evaluate` of `load_config('zoo/NAME')` on the card's second (smaller) eval set gives
  the card's PSNR to 0.01 dB: the weights, config and scoring of the card are the shipped ones."""
  if name == "(none published)":
    pytest.skip(f"no zoo card (card.json) in {card_lib.zoo_root()}")
  from enhance_jax import api
  card = json.loads((card_lib.zoo_root() / name / "card.json").read_text())
  if not (card_lib.zoo_root() / name / "variables").is_dir():
    pytest.skip(f"{card_lib.zoo_root() / name / 'variables'} is absent")
  sets = list(card["results"])
  second = sets[1] if len(sets) > 1 else sets[0]
  config = api.load_config(f"zoo/{name}", card["arg"] or None, card["overrides"])
  got = api.evaluate(config, evals=[second])[second]
  want = card["results"][second]
  assert got["num_images"] == want["num_images"]
  assert abs(got["psnr"] - want["psnr"]) <= 0.01, (got["psnr"], want["psnr"])
  assert abs(got["ssim"] - want["ssim"]) <= 1e-3, (got["ssim"], want["ssim"])


def test_time_points_interpolate_and_restart():
  """The step of each checkpoint gets the wall time interpolated between logged lines; a resume
  (elapsed_s restarts) adds the time before it; points past the run's end are not reached."""
  rows = [{"step": 10, "split": "train", "elapsed_s": 60.0},
          {"step": 20, "split": "train", "elapsed_s": 180.0},
          {"step": 20, "split": "eval", "psnr": 1.0},
          {"step": 30, "split": "train", "elapsed_s": 30.0},   # resumed from step 20
          {"step": 40, "split": "train", "elapsed_s": 90.0}]
  steps, seconds = card_lib.elapsed_curve(rows)
  np.testing.assert_allclose(steps, [0, 10, 20, 30, 40])
  np.testing.assert_allclose(seconds, [0, 60, 180, 210, 270])
  points = card_lib.time_points(steps, seconds, [5, 15, 20, 40], minutes=(1, 3, 4, 5))
  assert points[0] == {"minutes": 1, "reached": True, "step": 5, "at_minutes": 0.5}
  assert points[1]["step"] == 20 and points[1]["at_minutes"] == 3.0
  assert points[2]["step"] == 20  # 40 is reached at 4.5 min
  assert points[3] == {"minutes": 5, "reached": False, "why": "the run ended at 4.5 min"}


def test_classical_reference_reads_subset_and_whole_set_cells(tmp_path, monkeypatch):
  """A classical row's cell 'PSNR (N)' is a run on the first N images; a bare 'PSNR' is the
  whole set (num_images None); a missing row or a non-number gives None."""
  (tmp_path / "t.md").write_text(
      "| method | a | b |\n|---|---|---|\n| BM3D | 28.76 (4) | 17.96 |\n| other | – | x |\n")
  monkeypatch.setattr(card_lib, "RESULTS", tmp_path)
  assert card_lib.classical("L", "t.md", "a", "BM3D")["num_images"] == 4
  whole = card_lib.classical("L", "t.md", "b", "BM3D")
  assert whole["psnr"] == 17.96 and whole["num_images"] is None
  assert card_lib.classical("L", "t.md", "b", "other") is None
  assert card_lib.classical("L", "t.md", "b", "CLAHE") is None


def test_on_classical_images_takes_the_first_files_not_the_first_entries():
  """The evaluation lists images grouped by shape; the classical run's first N images are
  the first N file names: the subset mean is over those."""
  per = [{"name": n, "psnr": v, "ssim": v / 100} for n, v in
         (("test001", 25.0), ("test002", 30.0), ("test021", 20.0), ("test003", 29.0))]
  got = card_lib.on_classical_images({"classical": {"num_images": 3}}, per)
  assert got["names"] == ["test001", "test002", "test003"]
  assert got["psnr"] == 28.0
  assert card_lib.on_classical_images({"classical": {"num_images": None}}, per) is None
  assert card_lib.on_classical_images({}, per) is None


def _tree_bytes(folder: Path) -> dict:
  return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
          if p.is_file()}


def test_publish_tiny_run(tmp_path, monkeypatch, shared_data):
  """A 4-step run of a 3-layer DnCNN published into a temporary zoo: the files are written,
  the weights are the final checkpoint's bit for bit and give the card's numbers through
  `--config=zoo/dncnn_s25` (+ the run's overrides), an after-N-minutes point scores the
  step-2 checkpoint, and a second publish without --force is refused (one `error:` line,
  exit 1, nothing changed)."""
  from enhance_jax import api
  from enhance_jax.training import components
  from enhance_jax.weights import variables as variables_io
  zoo = tmp_path / "zoo"
  monkeypatch.setenv("ENHANCE_JAX_ZOO", str(zoo))
  overrides = {"model.kwargs.depth": 3, "model.kwargs.features": 8, "train.num_steps": 4,
               "train.checkpoint_every": 2, "train.log_every": 1, "train.batch_size": 4,
               "evals.bsd68_s25.data.max_eval_images": 2,
               "evals.set12_s25.data.max_eval_images": 1}
  run = tmp_path / "run"
  config = api.load_config("zoo/dncnn_s25", "init=random", overrides)
  api.train(config, run)
  rows = card_lib.read_jsonl(run / "metrics.jsonl")
  steps, seconds = card_lib.elapsed_curve(rows)
  between = (np.interp(2, steps, seconds) + np.interp(4, steps, seconds)) / 2 / 60
  out = card_lib.publish(run, "dncnn_s25", minutes=(between, 90))
  assert out == zoo / "dncnn_s25"
  for f in ("variables", "metrics.jsonl", "curve.png", "card.json", "README.md"):
    assert (out / f).exists(), f
  assert (zoo / "README.md").is_file() and "dncnn_s25" in (zoo / "README.md").read_text()
  assert not [p for p in zoo.iterdir() if p.name.startswith(".")]  # no temporary left

  card = json.loads((out / "card.json").read_text())
  assert card["overrides"] == {k: v for k, v in sorted(overrides.items())}
  assert card["train"]["steps"] == 4 and card["model"]["params"] > 0
  assert card["after_minutes"][0]["reached"] and card["after_minutes"][0]["step"] == 2
  assert card["after_minutes"][1]["reached"] is False
  assert "published" in card["references"] and "imported" in card["references"]
  assert card["commands"]["evaluate"].startswith("python -m enhance_jax.evaluate "
                                                 "--config=zoo/dncnn_s25 ")

  # the weights: the final checkpoint's raw parameters and batch statistics (eval.use_ema off)
  final, _ = components.load_inference_variables(config, components.model(config), str(run),
                                                 use_ema=False)
  written = variables_io.load_variables(out / "variables")
  assert set(written) == {"params", "batch_stats"}
  import jax
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(written)):
    np.testing.assert_array_equal(a, b)
  # the card's numbers are the zoo config's, on both sets; step 2 scores differently
  zoo_config = api.load_config("zoo/dncnn_s25", None, card["overrides"])
  assert zoo_config.init_checkpoint == str(out / "variables")
  got = api.evaluate(zoo_config)
  for name in ("bsd68_s25", "set12_s25"):
    assert abs(got[name]["psnr"] - card["results"][name]["psnr"]) <= 0.01
  assert card["after_minutes"][0]["psnr"] != card["results"]["bsd68_s25"]["psnr"]

  before = _tree_bytes(zoo)
  proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "zoo" / "publish.py"),
                         f"--workdir={run}", "--name=dncnn_s25"], capture_output=True,
                        text=True, env=dict(subprocess_env(), ENHANCE_JAX_ZOO=str(zoo)),
                        timeout=300)
  assert proc.returncode == 1, proc.stdout + proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert lines[-1].startswith("error: ") and "--force" in lines[-1], proc.stderr
  assert sum(line.startswith("error:") for line in lines) == 1 and "Traceback" not in proc.stderr
  assert _tree_bytes(zoo) == before


def test_info_zoo_section(tmp_path, monkeypatch):
  """`python -m enhance_jax.info --zoo`: every zoo config, with its card's benchmark PSNR when
  published."""
  from enhance_jax import catalog
  monkeypatch.setenv("ENHANCE_JAX_ZOO", str(tmp_path))
  lines = catalog.zoo_section()
  assert str(tmp_path) in lines[0]
  assert any(l.split()[:2] == ["dncnn_s25", "--config=zoo/dncnn_s25"] and
             l.endswith("not published (no card.json)") for l in lines)
  (tmp_path / "dncnn_s25" / "variables").mkdir(parents=True)
  (tmp_path / "dncnn_s25" / "card.json").write_text(json.dumps({
      "benchmark": "bsd68_s25", "results": {"bsd68_s25": {"psnr": 28.123, "num_images": 68}},
      "model": {"params": 556032}}))
  row = [l for l in catalog.zoo_section() if l.split()[:1] == ["dncnn_s25"]]
  assert row and row[0].endswith("bsd68_s25 PSNR 28.12 dB (68 images), 556,032 parameters")


def test_zoo_weights_total_under_10mb():
  """The weights files in the repo's zoo/ total under 10 MB (issue 17)."""
  zoo = ROOT / "zoo"
  files = [p for p in zoo.glob("*/variables/**/*") if p.is_file()]
  if not files:
    pytest.skip(f"no zoo weights in {zoo}")
  assert sum(p.stat().st_size for p in files) < 10_000_000
