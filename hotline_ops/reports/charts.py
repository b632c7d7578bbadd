"""Charts with matplotlib (Agg, no display) in Noto Sans CJK so Chinese titles render.

A chart spec is plain data in the context (``x``, ``series``); rendering happens at output
time, so the golden tests draw every chart from the example contexts too.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

matplotlib.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "DejaVu Sans"]
matplotlib.rcParams["font.family"] = "sans-serif"
matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts lack U+2212
MAX_SERIES = 12  # more lines than this is unreadable; the table carries them all


def png(spec: dict[str, Any], title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(7.2, 3.0), dpi=110)
    try:
        kind = spec.get("type", "line")
        {"line": _line, "bar": _bar, "scatter_fit": _scatter_fit}[kind](ax, spec)
        ax.set_title(title, fontsize=11)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left", ncols=3, frameon=False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


def data_uri(spec: dict[str, Any], title: str) -> str:
    return "data:image/png;base64," + base64.b64encode(png(spec, title)).decode("ascii")


def _line(ax: Any, spec: dict) -> None:
    x = list(range(len(spec["x"])))
    for s in spec["series"][:MAX_SERIES]:
        ys = [float("nan") if v is None else v for v in s["values"]]
        ax.plot(x, ys, linewidth=1.2, label=s["name"])
    step = max(1, len(x) // 10)
    ax.set_xticks(x[::step], spec["x"][::step], fontsize=7)


def _bar(ax: Any, spec: dict) -> None:
    n = max(1, len(spec["series"]))
    width = 0.8 / n
    for i, s in enumerate(spec["series"]):
        ys = [0 if v is None else v for v in s["values"]]
        ax.bar([j + i * width for j in range(len(ys))], ys, width, label=s["name"])
    ax.set_xticks(
        [j + 0.4 - width / 2 for j in range(len(spec["x"]))], spec["x"], fontsize=7, rotation=20
    )


def _scatter_fit(ax: Any, spec: dict) -> None:
    for s in spec["series"][:MAX_SERIES]:
        if not s["points"]:
            continue
        first = s["points"][0][0]
        ax.plot(
            [p[0] - first for p in s["points"]],
            [p[1] for p in s["points"]],
            ".",
            markersize=3,
            label=s["name"],
        )
        if s["fit"]:
            ax.plot([p[0] - first for p in s["fit"]], [p[1] for p in s["fit"]], "--", linewidth=1)
    ax.axhline(100, color="red", linewidth=0.8)
