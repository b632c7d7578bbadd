"""Trends for the quarterly optimization report (M2.2b), pure: growth between two figures
and a least-squares line through daily values (disk filling up)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    slope: float  # units per day
    intercept: float  # value at day 0

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def growth(before: float | None, after: float | None) -> float | None:
    """Relative change from ``before`` to ``after`` (0.3 = +30 %); None without a base."""
    if before is None or after is None or before <= 0:
        return None
    return (after - before) / before


def fit(points: list[tuple[float, float]]) -> Line | None:
    """Ordinary least squares; None with fewer than two distinct x values."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    return Line(slope, mean_y - slope * mean_x)


def days_until(line: Line, last_x: float, limit: float) -> float | None:
    """Days after ``last_x`` until the fitted line reaches ``limit``; None if not rising."""
    if line.slope <= 0:
        return None
    return max(0.0, (limit - line.at(last_x)) / line.slope)
