"""The metric names a Grafana dashboard's PromQL queries reference.

Why this exists: the Grafana dashboard shipped with the Helm chart
(``helm/ocrserve/dashboards/ocrserve.json``) names metrics in free-text PromQL,
so renaming a family in ``metrics/families.py`` would leave a panel silently
empty.  The tests walk the dashboard with :func:`queried_metrics` and check that
every name it queries exists in a real scrape of the server's ``/metrics``.

The dashboard's path cannot be resolved from here (an installed package does not
know where the repository's chart lies), so callers load the JSON themselves and
pass the parsed mapping.  Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["panel_exprs", "queried_metrics", "variable_queries"]

#: Prefix of every metric the server exports.
PREFIX = "ocr_"

# A PromQL identifier (metric, label or function name).  The whole identifier is
# taken so that a name only starting like a metric is reported as written, never
# cut short.
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:$])[A-Za-z_:][A-Za-z0-9_:]*")
# ``__name__="ocr_x"`` selects a metric by a string that the literal stripping drops.
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(["'`])(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\1""")
# String literals (label values such as slot="ocr_det" are not metrics).
_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
# Grafana variables: $name, ${name}, ${name:format}, [[name]].
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[^\]]*\]\]")
# PromQL comments run to the end of the line.
_COMMENT = re.compile(r"#[^\n]*")


def _panels(panels: Any) -> Iterator[Mapping[str, Any]]:
    """Every panel in ``panels``, depth first, rows' nested ``panels`` included."""
    if not isinstance(panels, list):
        return
    for panel in panels:
        if not isinstance(panel, Mapping):
            continue
        yield panel
        yield from _panels(panel.get("panels"))


def _all_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from _panels(dashboard.get("panels"))
    # Dashboards older than schema 16 keep their panels in "rows".
    rows = dashboard.get("rows")
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, Mapping):
                yield from _panels(row.get("panels"))


def panel_exprs(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel that has a PromQL ``expr``."""
    found: list[tuple[str, str]] = []
    for panel in _all_panels(dashboard):
        targets = panel.get("targets")
        if not isinstance(targets, list):
            continue
        title = str(panel.get("title", ""))
        for target in targets:
            if isinstance(target, Mapping):
                expr = target.get("expr")
                if isinstance(expr, str) and expr.strip():
                    found.append((title, expr))
    return found


def variable_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(variable name, query) for the dashboard's query variables (``label_values(...)``)."""
    templating = dashboard.get("templating")
    variables = templating.get("list") if isinstance(templating, Mapping) else None
    found: list[tuple[str, str]] = []
    if not isinstance(variables, list):
        return found
    for variable in variables:
        if not isinstance(variable, Mapping) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, Mapping):  # Prometheus' variable editor stores an object
            query = query.get("query")
        if isinstance(query, str) and query.strip():
            found.append((str(variable.get("name", "")), query))
    return found


def expr_metrics(expr: str) -> set[str]:
    """The ``ocr_*`` metric names one PromQL expression references.

    Suffixed sample names (``_bucket``, ``_sum``, ``_count``, ``_total``) are kept
    as written, since a scrape exposes exactly those.
    """
    names = {m.group("name") for m in _NAME_MATCHER.finditer(expr)}
    bare = _COMMENT.sub("", _VARIABLE.sub(" ", _STRING.sub(" ", expr)))
    names.update(m.group(0) for m in _IDENTIFIER.finditer(bare))
    return {name for name in names if name.startswith(PREFIX) and len(name) > len(PREFIX)}


def queried_metrics(dashboard: Mapping[str, Any]) -> set[str]:
    """Every ``ocr_*`` metric name the dashboard's panel targets and query variables use."""
    names: set[str] = set()
    for _, expr in [*panel_exprs(dashboard), *variable_queries(dashboard)]:
        names |= expr_metrics(expr)
    return names
