"""Where the zoo's weights are: `$ENHANCE_JAX_ZOO/NAME/variables`, else `zoo/NAME/variables`
at the root of the source checkout this package sits in. Not a config (no get_config)."""
from __future__ import annotations

import os
from pathlib import Path

from enhance_jax.config import parse_arg

PROFILES = ("cpu", "paper")


def root() -> Path:
  env = os.environ.get("ENHANCE_JAX_ZOO")
  return Path(env) if env else Path(__file__).resolve().parents[3] / "zoo"


def weights(name: str) -> str:
  """The variables directory of zoo model `name` (an Orbax directory, see weights/variables.py)."""
  return str(root() / name / "variables")


def parse(arg: str | None) -> dict:
  """'profile=cpu|paper,init=zoo|random' (a bare word is the profile). init=zoo (default)
  starts from / evaluates the zoo's weights; init=random trains from scratch, as the card's
  command does."""
  out = parse_arg(arg, positional="profile", profile="cpu", init="zoo")
  for key, allowed in (("profile", PROFILES), ("init", ("zoo", "random"))):
    if out[key] not in allowed:
      from enhance_jax.config import ConfigError  # pylint: disable=g-import-not-at-top
      raise ConfigError(f"config argument {key}={out[key]}: use one of {', '.join(allowed)}.")
  return out
