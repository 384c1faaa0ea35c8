"""Classical baselines (`BASELINES`) and `as_model`, which lets the evaluator score them.

A baseline config sets `config.baseline.name` (a key of `BASELINES`) and
`config.baseline.kwargs`; the data, degradation and metric protocol are those
of a model config, so `python -m enhance_jax.evaluate --config=...` scores a
classical method on exactly the inputs a model would see.
"""
from __future__ import annotations

import inspect

import jax
import ml_collections
import numpy as np

from enhance_jax.baselines.registry import BASELINES, apply, apply_batch, parameters

__all__ = ["BASELINES", "BaselineModel", "apply", "apply_batch", "as_model", "parameters"]


class BaselineModel:
  """A classical method with a model's `apply(variables, x, train=False, **extras)`.

  The method runs on the host (`jax.pure_callback`) image by image, so the
  jitted eval step (degradation, metrics) is the one models use. Output shape:
  the input's, times `kwargs['scale']` for resizing methods. Variables are ignored.
  """

  extra_inputs: tuple[str, ...] = ()

  def __init__(self, name: str, kwargs: dict | None = None):
    self.name = name
    self.fn = BASELINES.lookup(name)
    self.kwargs = dict(kwargs or {})

  def _out_shape(self, shape) -> tuple[int, ...]:
    s = float(self.kwargs.get("scale", 1)) if "scale" in parameters(self.name) else 1.0
    n, h, w, c = shape
    return (n, int(np.ceil(h * s - 1e-9)), int(np.ceil(w * s - 1e-9)), c)

  def _host(self, x, *extras):
    extra = dict(zip(self.extra_inputs, extras))
    return apply_batch(self.name, np.asarray(x, np.float32), per_image=self.extra_inputs,
                       **{k: np.asarray(v) for k, v in extra.items()}, **self.kwargs)

  def apply(self, variables, x, train: bool = False, **extras):
    del variables, train
    out = jax.ShapeDtypeStruct(self._out_shape(x.shape), np.float32)
    args = [extras[k] for k in self.extra_inputs]
    return jax.pure_callback(self._host, out, x, *args, vmap_method="sequential")


class MaskedBaselineModel(BaselineModel):
  """A baseline that also takes the damage mask (inpainting): batch['mask']."""

  extra_inputs = ("mask",)


def as_model(config: ml_collections.ConfigDict) -> BaselineModel:
  """The baseline `config.baseline.name` with `config.baseline.kwargs`, as a model."""
  name = config.baseline.name
  kwargs = dict(config.baseline.kwargs)
  fn = BASELINES.lookup(name)
  takes = inspect.signature(fn).parameters
  unknown = set(kwargs) - set(list(takes)[1:])
  if unknown:
    raise ValueError(f"baseline {name!r} has no parameter(s) {sorted(unknown)}; "
                     f"it takes {sorted(parameters(name))}.")
  cls = MaskedBaselineModel if "mask" in takes else BaselineModel
  return cls(name, kwargs)
