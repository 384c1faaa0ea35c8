"""Default run: a curve-estimation low-light enhancer on the embedded scikit-image photos.

`python -m enhance_jax.train` with no flags uses this file: `base_config()` (the schema and
its defaults, enhance_jax/config.py: data, degradation, loss, schedule) with the model
`curve_net` (models/curve_net.py): a 5-layer conv net predicts a per-pixel gain for a
rational tone curve on V = max(R, G, B), capped at 1 - 0.25 (1 - V), and scales RGB by
f(V) / V. It keeps every pixel's hue and saturation and cannot clip a highlight, so on real
low-light photos (LIME, DICM, LOL) it neither blows skies out nor casts a colour; the U-Net
of `base_config()` does both (experiments/results/default_lowlight.md, issue 15).
"""
import ml_collections

from enhance_jax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "curve_net"
  c.model.kwargs = ml_collections.ConfigDict(dict(
      features=16, depth=4, curve="rational", max_gain=32.0, highlight_slope=0.25))
  return c
