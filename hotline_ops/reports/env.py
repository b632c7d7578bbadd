"""The one Jinja environment for reports: templates from the content folder ``reports/``,
StrictUndefined (a missing figure is an error, never a blank), autoescape for HTML, and the
formatting filters every template and the XLSX writer share."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline_ops import yamlfile
from hotline_ops.core.evidence import LABELS, LABELS_EN
from hotline_ops.errors import ConfigError

if TYPE_CHECKING:
    import jinja2

LANGS = ("zh-CN", "en")
NONE = {"zh-CN": "无证据", "en": "no evidence"}
TIMER_STATES = {
    "zh-CN": {"pending": "计时中", "cancelled": "不适用"},
    "en": {"pending": "running", "cancelled": "not applicable"},
}


@cache
def environment(folder: Path) -> jinja2.Environment:
    import jinja2  # by the first report rendered, not by every command that imports this

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, pct=lambda v, lang="zh-CN": fmt(v, "pct", lang))
    return env


@cache
def labels(folder: Path, lang: str) -> dict[str, str]:
    """Headings and column names for ``lang`` (zh-CN first; en optional) from labels.yaml."""
    doc = yamlfile.load(folder / "labels.yaml")
    if not isinstance(doc.data, dict) or lang not in doc.data:
        raise ConfigError(f"{doc.where()}: no labels for language '{lang}'")
    return dict(doc.data[lang])


def fmt(value: Any, kind: str, lang: str = "zh-CN") -> str:
    """A cell as text: ``None`` is "无证据" / "no evidence", never zero."""
    if value is None:
        return NONE[lang]
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind in ("ms", "min", "num"):
        return f"{value:.1f}"
    if kind == "num2":
        return f"{value:.2f}"
    if kind == "sec":
        return f"{value:.2f}"
    if kind == "int":
        return f"{int(value)}"
    if kind == "status":
        names = {**(LABELS if lang == "zh-CN" else LABELS_EN), **TIMER_STATES[lang]}
        return names.get(value, value)
    return str(value)
