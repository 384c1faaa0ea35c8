"""Markdown table cells and tables for the result files and the zoo cards (no flags, so flag-
defining scripts such as experiments/zoo/publish.py can use it beside experiments/common.py)."""
from __future__ import annotations

import math
from typing import Any, Sequence


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
