"""What every entry point shares: the `--config` flag, `--config.KEY=VALUE` overrides, and the one
error path (`error: <one line>` as the last line, exit status 1).

An entry point calls `define_config_flag()` at import and `run(main)` at the bottom; inside `main`,
`config(workdir)` gives the checked config. Library modules never import this.

  --config=SPEC   a config file, or a shipped config by name (`lowlight_gan`,
                  `pretrained/dncnn_s25`), optionally with `:ARG` for `get_config(ARG)`.
  --config.a.b=V  overrides a key (typed by the schema in `enhance_jax.config`); an unknown key
                  is refused with the closest real key, with or without --config.

Which config: --config when given; else, for an entry point with --workdir, the config that
training saved there (`<workdir>/config.json`, overrides applied and reported); else the default.
"""
from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from absl import app, flags

from enhance_jax import config as config_lib

_OVERRIDES: list[tuple[str, str]] = []
_CONFIG_HELP = ("Config file, or a shipped config by name (e.g. lowlight_gan, pretrained/dncnn_s25; "
                "`python -m enhance_jax.info --configs` lists them), optionally FILE:ARG for "
                "get_config(ARG). Override any key with --config.KEY=VALUE.")


def define_config_flag(default_text: str, help_text: str | None = None) -> None:
  """Defines `--config` (a string: the loading happens in `config()`, after flag parsing), as a
  key flag of the calling entry point so that its `--help` lists it."""
  import sys
  holder = flags.DEFINE_string("config", None, help_text or
                               f"{_CONFIG_HELP} Default: {default_text}.")
  caller = sys._getframe(1).f_globals.get("__name__", "")  # pylint: disable=protected-access
  # absl files the flags of the running script (`python -m`) under sys.argv[0]
  module = sys.argv[0] if caller == "__main__" else caller
  flags.FLAGS.register_key_flag_for_module(module, flags.FLAGS[holder.name])


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parser for everything but `--config.KEY[=VALUE]`, which is kept for `config()`."""
  rest, i = [argv[0]], 1
  _OVERRIDES.clear()
  while i < len(argv):
    arg = argv[i]
    if arg == "--":
      rest.extend(argv[i:])
      break
    if arg.startswith("--config."):
      key, eq, value = arg[len("--config."):].partition("=")
      if not eq:
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
          value, i = argv[i + 1], i + 1
        else:
          value = "true"  # a bare --config.flag sets a boolean
      if not key:
        fail(f"{arg}: name a config key, e.g. --config.train.num_steps=100.")
      _OVERRIDES.append((key, value))
    else:
      rest.append(arg)
    i += 1
  try:
    return flags.FLAGS(rest)
  except flags.Error as e:
    fail(f"{e} (see --help).")


def run(main) -> None:
  """Runs an entry point's `main()` (no arguments) under absl with the override-aware flag
  parser: no positional arguments, logs at WARNING unless --verbosity, and a user's mistake
  (USER_ERRORS) as one `error:` line and exit status 1."""

  def wrapped(argv):
    no_positional(argv)
    quiet_logs()
    try:
      main()
    except USER_ERRORS as e:
      fail(e)

  app.run(wrapped, flags_parser=_parse_flags)


def config_spec() -> str | None:
  return flags.FLAGS["config"].value


def config(workdir: str | None = None):
  """The checked config of this invocation (see the module docstring)."""
  spec = config_spec()
  if spec is None and workdir:
    saved = config_lib.load_run_config(workdir)
    if saved is not None:
      where = str(Path(workdir) / "config.json")
      changes = config_lib.apply_overrides(saved, _OVERRIDES)
      config_lib.check_values(saved, where)
      for key, old, new in changes:
        print(f"config: {key} = {new!r} (was {old!r} in {where})", flush=True)
      return saved
  return config_lib.load_config(spec or config_lib.DEFAULT_CONFIG, overrides=_OVERRIDES)


def config_name() -> str:
  """A short name of the config in use ('default', 'lowlight_gan', 'dncnn_s25')."""
  name, _ = config_lib.split_spec(config_spec() or config_lib.DEFAULT_CONFIG)
  return Path(name).stem


# The exceptions a user's mistake raises (bad config, missing file, unreadable image, ...).
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, OSError)


def fail(error: BaseException | str) -> NoReturn:
  """The one error path: `error: <one line>` on stderr as the last line, exit status 1."""
  from enhance_jax import distributed
  if isinstance(error, KeyError) and error.args:
    error = str(error.args[0])
  distributed.exit_with_error(error)


def usage_error(message: str) -> NoReturn:
  fail(f"{message} (see --help).")


def no_positional(argv: list[str]) -> None:
  if len(argv) > 1:
    usage_error(f"unexpected arguments: {' '.join(argv[1:])}")


def quiet_logs() -> None:
  """WARNING unless --verbosity was given: orbax and grain are chatty at INFO."""
  from absl import logging
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)

