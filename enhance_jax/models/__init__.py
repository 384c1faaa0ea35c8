"""Model families; importing this package registers every model in `MODELS`."""
import importlib
import pkgutil

from enhance_jax.models.registry import MODELS, extra_inputs, get, register

for _info in pkgutil.iter_modules(__path__):
  if _info.name not in ("registry", "layers"):
    importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MODELS", "extra_inputs", "get", "register"]
