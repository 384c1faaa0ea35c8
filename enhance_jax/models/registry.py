"""The model registry: `@register("name")` on a `flax.linen.Module` class.

Model contract (every registered module):
  `__call__(self, x, *, train: bool = False, **extra)` with `x` NHWC float32
  (usually in [0, 1]) returning NHWC float32. BatchNorm statistics live in the
  'batch_stats' collection (`use_running_average=not train`); dropout uses the
  'dropout' RNG. A module that needs more than the image (e.g. FFDNet's noise
  level) lists the batch keys in the class attribute `extra_inputs`; the train
  and eval steps pass `batch[k]` for each as a keyword argument.
"""
from enhance_jax.registry import Registry

MODELS = Registry("model")
register = MODELS.register


def get(name: str, **kwargs):
  """Builds the registered model `name` with constructor `kwargs`."""
  return MODELS.get(name, **kwargs)


def extra_inputs(model) -> tuple[str, ...]:
  """Names of batch keys the model takes besides the image."""
  return tuple(getattr(type(model), "extra_inputs", ()))
