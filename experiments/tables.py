"""What result files and zoo cards are written with: table cells, markdown tables and the
command line that made them. No flags, so flag-defining scripts such as
experiments/zoo/publish.py can use it beside experiments/common.py."""
from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]


def fmt(value: Any, digits: int = 2) -> str:
  """A table cell: numbers with `digits` decimals, None/NaN as '–'."""
  if value is None:
    return "–"
  if isinstance(value, float):
    return "–" if math.isnan(value) else f"{value:.{digits}f}"
  return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  head = "| " + " | ".join(columns) + " |\n|" + "|".join("---" for _ in columns) + "|\n"
  return head + "".join("| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r)
                        + " |\n" for r in rows)


def command() -> str:
  """The command line that is running, as one would type it from the repo root."""
  script = Path(sys.argv[0]).resolve()
  try:
    script = script.relative_to(ROOT)
  except ValueError:
    pass
  return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])
