"""What the package offers, as text: models (with parameter counts), datasets (where their files
are, whether built), degradations, losses, baselines, shipped configs and importable pretrained
weights; and one model's parameters and FLOPs per image. `python -m enhance_jax.info` prints it.

Nothing is built, compiled, downloaded or written: parameter counts come from `jax.eval_shape`
of `model.init`, FLOPs from the jaxpr (`enhance_jax.models.complexity`), dataset state from the
files on disk.
"""
from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path
from typing import Callable

SECTIONS = ("models", "datasets", "degradations", "losses", "baselines", "configs", "pretrained",
            "zoo")

# The size of the input used to count a model's parameters (any size works for most models; a
# model that cannot take it is tried at the larger one).
_PARAM_SIZES = (32, 256)


def _first_line(doc: str | None, width: int = 110) -> str:
  """The docstring's first paragraph on one line, cut at a word to at most `width` characters."""
  text = " ".join((doc or "").strip().split("\n\n")[0].split())
  if len(text) <= width:
    return text
  return text[:width - 3].rsplit(" ", 1)[0] + " ..."


def _table(rows: list[tuple[str, ...]], indent: str = "  ", cap: int = 40) -> list[str]:
  """Left-aligned columns (the last one unpadded). A first cell wider than `cap` gets a line of
  its own, the rest of its row going on the next line under the second column."""
  if not rows:
    return []
  widths = [min(cap, max(len(r[0]) for r in rows))]
  widths += [max(len(r[i]) for r in rows) for i in range(1, len(rows[0]) - 1)]
  lines = []
  for r in rows:
    if len(r[0]) > widths[0] and len(r) > 1:
      lines.append(indent + r[0])
      r = ("",) + tuple(r[1:])
    lines.append(indent + "  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]).rstrip())
  return lines


# --- Backend -----------------------------------------------------------------------------------

def backend_line() -> str:
  """Which convolution implementation runs here (enhance_jax/models/convolution.py)."""
  import jax  # pylint: disable=g-import-not-at-top
  backend = jax.default_backend()
  devices = jax.devices()
  head = f"backend: {backend} ({len(devices)} x {devices[0].device_kind}), jax {jax.__version__}"
  if backend == "cpu":
    from enhance_jax.models import convolution  # pylint: disable=g-import-not-at-top
    kernels = getattr(convolution, "backend", lambda: "xla")()
    conv = ("oneDNN kernels (enhance_jax.native) where they apply, else " if kernels == "onednn"
            else "") + ("XLA:CPU's lax.conv_general_dilated, with the CPU rewrites of "
                        "enhance_jax/models/convolution.py (transposed convolutions as sub-pixel "
                        "matmuls, windows larger than the input as im2col matmuls)")
  else:
    conv = f"XLA's {backend} kernels for lax.conv_general_dilated (no rewrite on this platform)"
  return f"{head}; convolutions: {conv}"


# --- Models ------------------------------------------------------------------------------------

def _extra_input_shapes(names, n: int, h: int, w: int) -> dict:
  """Stand-ins for the batch keys a model takes besides the image (models.extra_inputs)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  shapes = {"noise_level": (n,), "mask": (n, h, w, 1)}
  out = {}
  for k in names:
    if k not in shapes:
      raise ValueError(f"extra input {k!r} of unknown shape")
    out[k] = jax.ShapeDtypeStruct(shapes[k], jnp.float32)
  return out


def init_shapes(model, size: int, channels: int):
  """`model.init` on a (1, size, size, channels) input, as shapes (`jax.eval_shape`):
  -> (variables of jax.ShapeDtypeStruct, input struct, extra-input structs)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from enhance_jax import models  # pylint: disable=g-import-not-at-top
  x = jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32)
  extras = _extra_input_shapes(models.extra_inputs(model), 1, size, size)
  variables = jax.eval_shape(
      lambda x, extras: model.init(jax.random.key(0), x, train=False, **extras), x, extras)
  return variables, x, extras


def _error_text(e: BaseException) -> str:
  text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
  text = " ".join(text.split()) or type(e).__name__
  return text if len(text) <= 160 else text[:157] + "..."


def model_params(name: str) -> tuple[int | None, int | None, str]:
  """(parameters, input channels used, '') of registered model `name` at default kwargs, counted
  on a 3-channel input (1 channel where 3 fails); (None, None, why) if it cannot be built."""
  from enhance_jax import models  # pylint: disable=g-import-not-at-top
  from enhance_jax.models import complexity  # pylint: disable=g-import-not-at-top
  try:
    model = models.get(name)
  except Exception as e:  # noqa: BLE001 - any constructor error is reported in the row
    return None, None, f"cannot be built at default kwargs: {_error_text(e)}"
  first = None
  for channels in (3, 1):
    for size in _PARAM_SIZES:
      try:
        variables, _, _ = init_shapes(model, size, channels)
      except Exception as e:  # noqa: BLE001
        first = first or e
        continue
      return complexity.count_params(variables), channels, ""
  return None, None, f"cannot be initialised at default kwargs: {_error_text(first)}"


def models_section() -> list[str]:
  from enhance_jax import models  # pylint: disable=g-import-not-at-top
  rows = []
  for name in models.MODELS.names():
    params, channels, why = model_params(name)
    extra = models.extra_inputs(models.MODELS.lookup(name)) if not why else ()
    doc = _first_line(models.MODELS.lookup(name).__doc__)
    if why:
      rows.append((name, "-", why))
      continue
    note = "" if channels == 3 else f" [{channels}-channel input]"
    if extra:
      note += f" [also takes {', '.join(extra)}]"
    rows.append((name, f"{params:,}", doc + note))
  return ([f"models ({len(rows)}; parameters at default kwargs for a 3-channel input; "
           "`--model=NAME` adds FLOPs):"] + _table(rows))


def model_report(name: str, size: int = 256, channels: int = 3,
                 kwargs: dict | None = None) -> list[str]:
  """Parameters and forward FLOPs per (size x size x channels) image of registered model `name`
  at default kwargs (or `kwargs`, e.g. a config's model.kwargs). Raises KeyError (unknown name)
  or ValueError (it cannot take that input)."""
  from enhance_jax import models  # pylint: disable=g-import-not-at-top
  from enhance_jax.models import complexity  # pylint: disable=g-import-not-at-top
  if size < 1 or channels < 1:
    raise ValueError(f"--size and --channels must be positive (got {size}, {channels}).")
  model = models.get(name, **(kwargs or {}))  # KeyError naming close matches
  try:
    variables, x, extras = init_shapes(model, size, channels)
  except Exception as e:  # noqa: BLE001 - the model's own message says why
    raise ValueError(f"model {name!r} at {'its' if kwargs else 'default'} kwargs cannot take a {size}x{size}x{channels} "
                     f"input: {_error_text(e)}") from None
  flops = complexity.count_flops(
      lambda v, x, extras: model.apply(v, x, train=False, **extras), variables, x, extras)
  total = flops["conv"] + flops["dot"]
  state = {k: complexity.count_params(v) for k, v in variables.items() if k != "params"}
  lines = [f"model {name}: {_first_line(type(model).__doc__)}",
           f"  parameters: {complexity.count_params(variables):,}"]
  if state:
    lines.append("  other variables: " + ", ".join(f"{k} {n:,}" for k, n in state.items()))
  lines.append(f"  FLOPs per {size}x{size}x{channels} image (forward, 2 per multiply-add): "
               f"{int(total):,} = {total / 1e9:.3f} GFLOPs (convolutions {int(flops['conv']):,}; "
               f"matmuls {int(flops['dot']):,})")
  if extras:
    lines.append(f"  extra inputs: {', '.join(extras)}")
  return lines


# --- Datasets ----------------------------------------------------------------------------------

# How each TFDS-backed dataset finds its files (the factories in enhance_jax/data/builders):
# dataset -> (builder module, builder class, shared-data folder or None, TFDS configs built).
_TFDS_DATASETS = {
    "bsds500": ("bsd", "Bsds500", ("bsds500",), None),
    "bsd68": ("bsd", "Bsd68", ("bsd68",), None),
    "cbsd68": ("bsd", "Cbsd68", ("cbsd68",), None),
    "set12": ("bsd", "Set12", ("set12",), None),
    "train400": ("bsd", "Train400", ("train400",), None),
    "set5": ("sr", "Set5", ("set5",), ("x2", "x3", "x4")),
    "div2k": ("sr", "Div2k", None, ("x2", "x3", "x4")),
    "kodak": ("kodak", "Kodak", ("kodak",), None),
    "lol": ("lol", "Lol", ("lol",), ("full", "partial")),
    "dicm": ("lol", "Dicm", ("lowlight_unpaired", "DICM"), None),
    "lime": ("lol", "Lime", ("lowlight_unpaired", "LIME"), None),
    "imagenet_subset": ("imagenet_subset", "ImagenetSubset", ("imagenet", "train"), "default"),
}
_FILE_DATASETS = {
    "embedded": "scikit-image's bundled photographs (no files, nothing to build)",
    "image_folder": "any folder: config.data.kwargs.target_dir (and input_dir); read directly, "
                    "nothing to build",
}


def tfds_data_dir() -> Path:
  """Where TFDS builds datasets when `config.data.kwargs.data_dir` is unset."""
  return Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def _count_files(folder: Path) -> int:
  return sum(1 for p in folder.rglob("*") if p.is_file())


def dataset_status(name: str, data_dir: str | os.PathLike | None = None) -> tuple[str, str]:
  """(where the files are, what is built) for registered dataset `name`; nothing is built."""
  import importlib  # pylint: disable=g-import-not-at-top
  from enhance_jax.data import paths  # pylint: disable=g-import-not-at-top
  if name in _FILE_DATASETS:
    return _FILE_DATASETS[name], "-"
  if name not in _TFDS_DATASETS:
    return "(not described by enhance_jax.catalog)", "?"
  module, cls_name, shared, configs = _TFDS_DATASETS[name]
  builder_cls = getattr(importlib.import_module(f"enhance_jax.data.builders.{module}"), cls_name)
  if shared is None:
    files = "downloaded by TFDS, or config.data.kwargs.manual_dir"
  else:
    folder = paths.shared_subdir(*shared)
    if folder.is_dir():
      files = f"{folder} ({_count_files(folder)} files)"
    else:
      files = f"{folder} missing: set config.data.kwargs.manual_dir"
      if getattr(builder_cls, "DOWNLOADABLE", False):
        files += " (or TFDS downloads it)"
  root = Path(data_dir).expanduser() if data_dir else tfds_data_dir()
  version = str(builder_cls.VERSION)
  if configs == "default":
    configs = (builder_cls.BUILDER_CONFIGS[0].name,)
  variants = [(c, root / builder_cls.name / c / version) for c in configs] if configs else [
      ("", root / builder_cls.name / version)]
  built = [c for c, d in variants if (d / "dataset_info.json").is_file()]
  where = root / builder_cls.name
  if not built:
    return files, f"not built (builds into {where} on first use)"
  if not configs:
    return files, f"built: {variants[0][1]}"
  missing = [c for c, _ in variants if c not in built]
  return files, (f"built {', '.join(built)} in {where}"
                 + (f"; not {', '.join(missing)}" if missing else ""))


def datasets_section() -> list[str]:
  from enhance_jax.data import builders  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from enhance_jax.data import paths  # pylint: disable=g-import-not-at-top
  from enhance_jax.data.sources import DATASETS  # pylint: disable=g-import-not-at-top
  lines = [f"datasets ({len(DATASETS.names())}; shared data {paths.shared_data_dir()} "
           f"[${paths.ENV_VAR}], TFDS data dir {tfds_data_dir()} [$TFDS_DATA_DIR or "
           "config.data.kwargs.data_dir]):"]
  for name in DATASETS.names():
    files, built = dataset_status(name)
    lines.append(f"  {name:16s} {_first_line(DATASETS.lookup(name).__doc__)}")
    lines.append(f"  {'':16s}   files: {files}")
    if built != "-":
      lines.append(f"  {'':16s}   {built}")
  return lines


# --- Degradations, losses, baselines -----------------------------------------------------------

def _signature(fn: Callable, skip: int) -> str:
  """'name(a=1, b)' from `fn`'s parameters after the first `skip` (which the caller supplies)."""
  params = list(inspect.signature(fn).parameters.values())[skip:]
  parts = []
  for p in params:
    if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
      continue
    parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
  return f"({', '.join(parts)})"


def _registry_rows(registry, skip: int) -> list[tuple[str, str]]:
  return [(name + _signature(registry.lookup(name), skip),
           _first_line(registry.lookup(name).__doc__)) for name in registry.names()]


def degradations_section() -> list[str]:
  from enhance_jax.data.degradations import DEGRADATIONS  # pylint: disable=g-import-not-at-top
  from enhance_jax.data.host_ops import HOST_OPS  # pylint: disable=g-import-not-at-top
  return ([f"degradations ({len(DEGRADATIONS.names())}; in the compiled step, config.data.degrade "
           "= 'name(k=v)|name(...)'; (lo, hi) draws per image):"]
          + _table(_registry_rows(DEGRADATIONS, 2))
          + [f"host-side degradations ({len(HOST_OPS.names())}; in the input pipeline, "
             "config.data.host_degrade):"]
          + _table(_registry_rows(HOST_OPS, 2)))


def losses_section() -> list[str]:
  from enhance_jax.training.losses import LOSSES  # pylint: disable=g-import-not-at-top
  return ([f"losses ({len(LOSSES.names())}; config.loss, weighted sums as "
           "'0.84*ssim+0.16*l1'):"] + _table(_registry_rows(LOSSES, 2)))


def baselines_section() -> list[str]:
  from enhance_jax.baselines.registry import BASELINES  # pylint: disable=g-import-not-at-top
  return ([f"baselines ({len(BASELINES.names())}; classical methods, config.baseline.name and "
           "config.baseline.kwargs):"] + _table(_registry_rows(BASELINES, 1)))


# --- Configs and pretrained weights ------------------------------------------------------------

def config_summary(name: str) -> str:
  """The first line of shipped config `name`'s module docstring (the file is parsed, not run)."""
  from enhance_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  path = config_lib.SHIPPED_DIR / f"{name}.py"
  try:
    return _first_line(ast.get_docstring(ast.parse(path.read_text())))
  except (OSError, SyntaxError) as e:
    return f"(unreadable: {_error_text(e)})"


def configs_section() -> list[str]:
  from enhance_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  names = config_lib.shipped_configs()
  return ([f"configs ({len(names)} shipped in {config_lib.SHIPPED_DIR}; use as --config=NAME, "
           f"default {config_lib.DEFAULT_CONFIG!r}):"]
          + _table([(n, config_summary(n)) for n in names]))


def pretrained_section() -> list[str]:
  from enhance_jax.weights import importers  # pylint: disable=g-import-not-at-top
  source = importers.default_source_dir()
  rows = []
  for name in importers.names():
    spec = importers.PRETRAINED[name]
    missing = [f for f in spec.files if not (source / f).is_file()]
    state = "files present" if not missing else f"missing {', '.join(missing)}"
    rows.append((name, f"{spec.model} ({spec.channels} ch)", spec.description, state))
  return ([f"pretrained weights ({len(rows)}; official files read from {source}; import with "
           "`python -m enhance_jax.import_weights --model=NAME`, then --config=pretrained/NAME):"]
          + _table(rows))


def zoo_section() -> list[str]:
  """The zoo configs (`configs/zoo/NAME.py`) and, from each published card.json, the benchmark
  PSNR of its weights."""
  import json  # pylint: disable=g-import-not-at-top
  from enhance_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from enhance_jax.configs.zoo import _zoo  # pylint: disable=g-import-not-at-top
  root, rows = _zoo.root(), []
  for name in [n[len("zoo/"):] for n in config_lib.shipped_configs() if n.startswith("zoo/")]:
    card = root / name / "card.json"
    if not card.is_file():
      rows.append((name, f"--config=zoo/{name}", "not published (no card.json)"))
      continue
    c = json.loads(card.read_text())
    b = c["results"][c["benchmark"]]
    missing = "" if (root / name / "variables").is_dir() else "; weights missing"
    rows.append((name, f"--config=zoo/{name}", f"{c['benchmark']} PSNR {b['psnr']:.2f} dB "
                 f"({b['num_images']} images), {c['model']['params']:,} parameters{missing}"))
  return ([f"zoo models ({len(rows)}; trained by this codebase, weights and cards in {root} "
           "[$ENHANCE_JAX_ZOO]; --config=zoo/NAME applies them):"] + _table(rows))


_SECTION_FNS = {
    "models": models_section, "datasets": datasets_section,
    "degradations": degradations_section, "losses": losses_section,
    "baselines": baselines_section, "configs": configs_section,
    "pretrained": pretrained_section, "zoo": zoo_section,
}


def report(sections=SECTIONS, header: bool = True) -> str:
  """The backend line (if `header`), then each named section (in SECTIONS order), as text."""
  unknown = [s for s in sections if s not in _SECTION_FNS]
  if unknown:
    raise ValueError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}.")
  blocks = [[backend_line()]] if header else []
  blocks += [_SECTION_FNS[s]() for s in SECTIONS if s in sections]
  return "\n\n".join("\n".join(b) for b in blocks)
