"""The config schema with its defaults: every key a run can set.

`base_config()` is the default run (a U-Net low-light enhancer on the embedded
scikit-image photos, a few minutes on 2 CPU cores). Experiment configs in
`experiments/configs/*.py` start from it and change what they need, big_vision
style: `def get_config(): c = base_config(); c.model.name = ...; return c`.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.model = ml_collections.ConfigDict()
  c.model.name = "unet"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=12, depth=5, out_channels=3, residual=True))

  c.data = ml_collections.ConfigDict()
  c.data.name = "embedded"           # enhance_jax.data.sources.DATASETS
  c.data.kwargs = ml_collections.ConfigDict()  # passed to the dataset factory
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.channels = 3                # 1 = gray, 3 = RGB
  c.data.patch_size = 64             # target patch side (HR side for SR)
  c.data.scale = 1                   # SR factor: input patch = patch_size // scale
  c.data.augment = True              # random flips and 90-degree rotations
  # In-graph degradation spec (enhance_jax.data.degradations), applied to the
  # input (or to the target when the dataset has no input).
  c.data.degrade = "low_light(exposure=(0.08, 0.25), gamma=(1.4, 2.0))"
  c.data.host_degrade = ""           # host-side ops in the input pipeline (e.g. jpeg)
  c.data.eval_max_size = 0           # centre-crop eval images to this side (0 = full size)
  c.data.max_eval_images = 0         # 0 = all
  c.data.num_workers = 0             # grain worker processes (0 = in-process)
  c.data.prefetch = 2

  c.loss = "l1"                      # e.g. "l1", "charbonnier", "0.84*ssim+0.16*l1"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-3
  c.optimizer.schedule = "warmup_cosine"  # or "constant", "step"
  c.optimizer.warmup_steps = 20
  c.optimizer.end_lr_factor = 0.05
  c.optimizer.weight_decay = 0.0
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.grad_clip_norm = 1.0   # 0 = off

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 8             # global batch, split over all devices
  c.train.num_steps = 600
  c.train.log_every = 20
  c.train.eval_every = 300
  c.train.checkpoint_every = 200
  c.train.keep_checkpoints = 3
  c.train.ema_decay = 0.99           # 0 = no EMA
  c.train.nan_policy = "stop"        # "stop" or "skip" the update
  c.train.dtype = "float32"          # compute dtype: float32 or bfloat16

  # Device mesh ('data', 'model') over all processes (enhance_jax.training.mesh).
  c.mesh = ml_collections.ConfigDict()
  c.mesh.fsdp = 1                    # 'model' axis size: >1 shards large params FSDP-style
  c.mesh.min_shard_size = 2**14      # params with fewer elements stay replicated

  c.eval = ml_collections.ConfigDict()
  c.eval.y_channel = False           # PSNR/SSIM on BT.601 Y (MATLAB rgb2ycbcr)
  c.eval.crop_border = 0             # pixels shaved on each side before metrics
  c.eval.round_uint8 = True          # quantise the output to uint8 before metrics
  c.eval.y_protocol = "matlab"       # with y_channel+round_uint8: "matlab" rounds Y too, "basicsr" not
  c.eval.use_ema = True
  c.eval.grid_images = 4             # images in the before/after PNG grid
  c.eval.seed = 1234                 # key of the eval degradation (fixed)

  c.init_checkpoint = ""             # params to start from / evaluate (import_weights output)

  # Adversarial training (enhance_jax.training.adversarial): when enabled,
  # config.model is the generator, config.optimizer its optimizer and
  # config.loss its reconstruction term; train.ema_decay is G's EMA.
  c.gan = ml_collections.ConfigDict()
  c.gan.enabled = False
  c.gan.disc = ml_collections.ConfigDict()
  c.gan.disc.name = "patchgan"       # a registered discriminator (models/discriminators.py)
  c.gan.disc.kwargs = ml_collections.ConfigDict()
  c.gan.conditional = True           # D judges concat(input, image); needs same-size input
  c.gan.loss = "bce"                 # "bce" (non-saturating), "lsgan" or "hinge"
  c.gan.adv_weight = 0.01            # G loss = config.loss + adv_weight * adversarial term
  c.gan.d_steps = 1                  # D updates per G update
  c.gan.real_label = (1.0, 1.0)      # D target for real images: (lo, hi) uniform per image
  c.gan.fake_label = (0.0, 0.0)      # (0.9, 0.9) real = one-sided label smoothing
  c.gan.flip_prob = 0.0              # noisy labels: swap an image's label with this probability
  c.gan.r1_weight = 0.0              # R1 penalty gamma: gamma/2 * E|grad_x D(real)|^2
  c.gan.perceptual_weight = 0.0      # + weight * VGG perceptual loss (needs vgg_weights)
  c.gan.vgg_weights = ""             # VGG .npz/.pth (metrics/vgg.py); absent = no perceptual term
  c.gan.vgg_depth = 19
  c.gan.perceptual_layers = ("relu5_4",)
  c.gan.optimizer = ml_collections.ConfigDict(dict(  # D's optimizer (schema of c.optimizer)
      name="adam", learning_rate=2e-4, schedule="constant", warmup_steps=0, end_lr_factor=1.0,
      weight_decay=0.0, b1=0.5, b2=0.999, grad_clip_norm=0.0))
  return c


DEFAULT_CONFIG_FILE = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "default.py"


def load_config_file(path: str | Path, arg: str | None = None) -> ml_collections.ConfigDict:
  """Loads `get_config()` (optionally `get_config(arg)`) from a Python file."""
  path = Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: config file not found.")
  spec = importlib.util.spec_from_file_location(f"_enhance_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise AttributeError(f"{path}: defines no get_config().")
  return module.get_config(arg) if arg is not None else module.get_config()


def save_run_config(config: ml_collections.ConfigDict, workdir: str | Path) -> Path:
  """Writes the run's config as `<workdir>/config.json` (read back by
  `load_run_config` so evaluate/enhance need only --workdir)."""
  path = Path(workdir) / "config.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")  # atomic: a kill never truncates it
  tmp.write_text(config.to_json_best_effort(indent=2) + "\n")
  os.replace(tmp, path)
  return path


def load_run_config(workdir: str | Path) -> ml_collections.ConfigDict | None:
  """The config saved by a training run in `workdir`, or None."""
  path = Path(workdir) / "config.json"
  if not path.is_file():
    return None
  import json
  try:
    return ml_collections.ConfigDict(json.loads(path.read_text()))
  except ValueError as e:
    raise ValueError(f"{path}: not a valid saved config ({e}); pass --config.") from None


def resolve(config_flag, workdir: str | None) -> ml_collections.ConfigDict:
  """The config of an entry point: --config when given, else the one saved in
  --workdir by training, else the default config."""
  import absl.flags
  given = absl.flags.FLAGS[config_flag.name].present if hasattr(config_flag, "name") else True
  if not given and workdir:
    saved = load_run_config(workdir)
    if saved is not None:
      return saved
  try:
    value = config_flag.value
    value.keys()  # a config file that failed to load raises only when used
    return value
  except OSError as e:  # ml_collections: the config file failed to load (multi-line)
    raise FileNotFoundError(" ".join(str(e).split())) from None


def define_config_flag(help_text: str = "Config file (get_config()).", default: str | None = None):
  """`--config` of an entry point (`lock_config`). An override naming no config
  key (`--config.train.nonexistent=1`) exits with one line naming it instead of
  ml_collections' bare AttributeError traceback at import."""
  from ml_collections import config_flags
  try:
    return config_flags.DEFINE_config_file("config", default or str(DEFAULT_CONFIG_FILE),
                                           help_text, lock_config=True)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    msg = _bad_override(sys.argv[1:], default) or " ".join(str(e).split())
    raise SystemExit(f"error: {msg}") from None


def _bad_override(argv: list[str], default: str | None) -> str | None:
  """Which `--config.a.b=...` in `argv` names no key of the config, as a message."""
  import difflib
  path = default or str(DEFAULT_CONFIG_FILE)
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      path = a.split("=", 1)[1]
    elif a == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
  try:
    file, _, arg = path.partition(":")
    config = load_config_file(file, arg or None)
  except Exception:  # noqa: BLE001  (the flag reports a broken config file itself)
    return None
  for a in argv:
    if not a.startswith("--config."):
      continue
    key = a[len("--config."):].split("=", 1)[0]
    node, done = config, []
    for part in key.split("."):
      fields = list(node.keys()) if isinstance(node, (ml_collections.ConfigDict, dict)) else []
      if part not in fields:
        where = "config" + "".join(f".{d}" for d in done)
        close = difflib.get_close_matches(part, fields, n=1)
        hint = f"; did you mean {where}.{close[0]}?" if close else (
            f"; it has: {', '.join(sorted(fields))}" if fields else " (not a section)")
        return f"--config.{key}: unknown config key ({where} has no field {part!r}{hint})"
      node, done = node[part], done + [part]
  return None


def sibling_module(config_file: str, name: str):
  """Imports `<name>.py` from the folder of `config_file`: the shared helpers of
  a config folder (e.g. `experiments/configs/pretrained/_common.py`), which
  config files loaded by path cannot import as a package."""
  path = Path(config_file).with_name(f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"_enhance_config_{path.parent.name}_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
