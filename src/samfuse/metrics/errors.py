"""Errors raised by metrics on unusable input."""

from __future__ import annotations


class MetricSizeError(ValueError):
    """The image is smaller than the metric needs (e.g. VIF: at least 41×41 for its four scales).

    ``str(err)`` is one line naming the metric, the minimum and the actual size.
    """


class MetricShapeError(ValueError):
    """The images given to a metric do not have the same height and width."""
