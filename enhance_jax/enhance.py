"""Apply a model to image files: `python -m enhance_jax.enhance --workdir=DIR --input=IN --output=OUT`.

IN and OUT may be files or folders. Any size and mode: gray, RGB, RGBA (alpha
is kept as is), palette, 8- or 16-bit (written back with the same depth).
Large images are processed in overlapping tiles; each tile keeps its interior
(half the overlap is dropped on sides facing a neighbour), so the result equals
the whole-image result when the model's receptive radius is at most half the
overlap, and memory stays bounded. A gray model applied to a colour image enhances each
channel; a colour model applied to a gray image sees it repeated to RGB and
returns the luma. Output files appear only when complete.
"""
from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

from enhance_jax import config as config_lib
from enhance_jax.inference import Enhancer, enhance_file

_CONFIG = config_lib.define_config_flag(
    "Config file (default: the one saved in --workdir by training).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/.")
_INPUT = flags.DEFINE_string("input", None, "Image file or folder.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output file or folder.", required=True)
_TILE = flags.DEFINE_integer("tile", 512, "Tile side in input pixels (0 = whole image).")
_OVERLAP = flags.DEFINE_integer("overlap", 32, "Tile overlap in input pixels.")
_BATCH = flags.DEFINE_integer("tile_batch", 4, "Tiles per forward pass.")
_NOISE = flags.DEFINE_float("noise_level", None, "Noise sigma (0-255 scale) for models that "
                            "take one (FFDNet).")
_PREPROCESS = flags.DEFINE_string("preprocess", "", "Degradation-style ops applied to the input "
                                  "first, e.g. 'bicubic_up(scale=3)' for SRCNN.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  from enhance_jax.data import imageio
  from enhance_jax.training import components
  try:
    config = config_lib.resolve(_CONFIG, _WORKDIR.value)
    model = components.model(config)
    variables, where = components.load_inference_variables(config, model, _WORKDIR.value,
                                                           use_ema=config.eval.use_ema)
    enhancer = Enhancer(model, variables, config.data.channels, _TILE.value, _OVERLAP.value,
                        _BATCH.value, _NOISE.value, _PREPROCESS.value)
    src, dst = Path(_INPUT.value), Path(_OUTPUT.value)
    if src.is_dir():
      pairs = [(f, dst / (f.stem + ".png")) for f in imageio.list_images(src)]
    else:
      pairs = [(src, dst / (src.stem + ".png") if dst.is_dir() else dst)]
    for a, _ in pairs:  # every input decodes before any output is written
      imageio.read_image(a, channels=None, keep_16bit=True)
    for a, b in pairs:
      enhance_file(enhancer, a, b)
      print(f"{a} -> {b}")
    print(f"weights: {where}")
  except (ValueError, KeyError, FileNotFoundError, OSError) as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
