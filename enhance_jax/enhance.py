"""Apply a model to image files: `python -m enhance_jax.enhance --workdir=DIR --input=IN --output=OUT`.

IN and OUT may be files or folders. Any size and mode: gray, RGB, RGBA (alpha
is kept as is), palette, 8- or 16-bit (written back with the same depth).
Large images are processed in tiles: each forward pass keeps a --tile block and
sees --overlap more pixels on every side, so the result equals the whole-image
result when the model's receptive radius is at most the overlap, and memory
stays bounded. An output never overwrites an input or another output. A gray
model applied to a colour image enhances each channel; a colour model applied
to a gray image sees it repeated to RGB and returns the luma. Output files
appear only when complete. Progress (per image and tile, with ETA) goes to stderr: lines at
most once a second on a terminal, else one summary line.

What the config says is applied: its input preparation (the ops of data.degrade that are not
synthetic degradations, e.g. SRCNN x3's `bicubic_up(scale=3)`: the input is the low-resolution
image and the output is 3x its size; models that up-sample themselves need none), the noise
level FFDNet is given (data.degrade's gaussian_noise sigma) and the channels (data.channels).
--preprocess and --noise_level replace the config's. --self_ensemble averages the outputs of the
8 flips/rotations of the input.
"""
from __future__ import annotations

from absl import flags

from enhance_jax import cli
from enhance_jax.inference import (Enhancer, check_tiling, config_noise_level, config_preprocess,
                                   enhance_file, plan_outputs)

cli.define_config_flag("the config saved in --workdir by training")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir holding checkpoints/.")
_INPUT = flags.DEFINE_string("input", None, "Image file or folder.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output file or folder.", required=True)
_TILE = flags.DEFINE_integer("tile", 512, "Side of the block each tile keeps, in input pixels "
                             "(0 = whole image).")
_OVERLAP = flags.DEFINE_integer("overlap", 32, "Context pixels each tile sees beyond its block, "
                                "per side.")
_BATCH = flags.DEFINE_integer("tile_batch", 4, "Tiles per forward pass.")
_NOISE = flags.DEFINE_float("noise_level", None, "Noise sigma (0-255 scale) for models that "
                            "take one (FFDNet); default: the config's gaussian_noise sigma.")
_PREPROCESS = flags.DEFINE_string("preprocess", None, "Degradation-style ops applied to the input "
                                  "first, e.g. 'bicubic_up(scale=3)'; default: the input "
                                  "preparation in the config's data.degrade ('' = none).")

_ENSEMBLE = flags.DEFINE_bool("self_ensemble", None, "Average the outputs of the 8 flips/rotations "
                              "of each tile (x8 test-time ensemble, 8x the compute); default: "
                              "the config's eval.self_ensemble.")


def main():
  from enhance_jax.data import imageio
  from enhance_jax.training import components, logs
  check_tiling(_TILE.value, _OVERLAP.value, _BATCH.value)
  pairs = plan_outputs(_INPUT.value, _OUTPUT.value)  # refuses to overwrite an input
  config = cli.config(_WORKDIR.value)
  model = components.model(config)
  variables, where = components.load_inference_variables(config, model, _WORKDIR.value,
                                                         use_ema=config.eval.use_ema)
  preprocess = config_preprocess(config) if _PREPROCESS.value is None else _PREPROCESS.value
  noise = config_noise_level(config) if _NOISE.value is None else _NOISE.value
  enhancer = Enhancer(model, variables, config.data.channels, _TILE.value, _OVERLAP.value,
                      _BATCH.value, noise, preprocess,
                      config.eval.self_ensemble if _ENSEMBLE.value is None else _ENSEMBLE.value)
  if preprocess:
    print(f"preprocess: {preprocess}")
  if enhancer.takes_noise_level:
    print(f"noise level: sigma {noise:g}")
  for a, _ in pairs:  # every input decodes before any output is written
    imageio.read_image(a, channels=None, keep_16bit=True)
  ticker = logs.Ticker("enhance", len(pairs))
  for i, (a, b) in enumerate(pairs):
    enhance_file(enhancer, a, b, on_tiles=lambda done, total, i=i, a=a: ticker.update(
        i + done / total, f"{a.name}: tile {done}/{total}"))
    print(f"{a} -> {b}")
  ticker.finish()
  print(f"weights: {where}")


if __name__ == "__main__":
  cli.run(main)
