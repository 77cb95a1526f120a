"""The Metrics dashboard dock: rolling plots of what the app measures, one small plot per metric.

The app calls :meth:`MetricsDock.record` about once a second with whatever it measured; a metric
missing from a sample leaves a gap rather than a made-up value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

#: seconds of history each plot keeps (at one sample a second)
HISTORY = 300


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    title: str
    unit: str
    colour: str


METRICS: tuple[Metric, ...] = (
    Metric("frame_ms", "Frame time", "ms", "#f0c040"),
    Metric("step_ms", "Physics step", "ms", "#60c0f0"),
    Metric("events_per_s", "Events", "/s", "#a0e080"),
    Metric("rtt_ms", "Network RTT", "ms", "#e08080"),
    Metric("bytes_per_s", "Network traffic", "B/s", "#e0a060"),
    Metric("cpu_percent", "CPU", "%", "#c0a0f0"),
    Metric("memory_mb", "Memory", "MB", "#80d0c0"),
    Metric("audio_load", "Audio load", "%", "#f080c0"),
    Metric("audio_underruns", "Audio underruns", "", "#ff6060"),
)


class _Series:
    """A fixed ring of (time, value) samples, NaN where nothing was measured."""

    def __init__(self) -> None:
        self.t = np.full(HISTORY, np.nan)
        self.v = np.full(HISTORY, np.nan)
        self.n = 0

    def add(self, t: float, value: float) -> None:
        i = self.n % HISTORY
        self.t[i], self.v[i] = t, value
        self.n += 1

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n <= HISTORY:
            return self.t[: self.n], self.v[: self.n]
        i = self.n % HISTORY
        return np.roll(self.t, -i), np.roll(self.v, -i)

    @property
    def last(self) -> float:
        return float(self.v[(self.n - 1) % HISTORY]) if self.n else math.nan


class MetricsDock(QtWidgets.QDockWidget):
    """One plot per metric that has been measured at least once, stacked in measurement order."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Metrics", parent)
        self.setObjectName("metrics_dock")
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.layout_widget.setMinimumWidth(280)
        self.series = {m.key: _Series() for m in METRICS}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self.empty_label = QtWidgets.QLabel("Nothing measured yet")
        stack = QtWidgets.QStackedWidget()
        stack.addWidget(self.empty_label)
        stack.addWidget(self.layout_widget)
        self.stack = stack
        self.setWidget(stack)

    def _plot_for(self, metric: Metric) -> pg.PlotItem:
        plot = self.plots.get(metric.key)
        if plot is None:
            plot = self.layout_widget.addPlot(row=len(self.plots), col=0)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.setLabel("left", units=metric.unit or None)
            self.curves[metric.key] = plot.plot(pen=pg.mkPen(metric.colour, width=1.5), connect="finite")
            self.plots[metric.key] = plot
            self.stack.setCurrentWidget(self.layout_widget)
        return plot

    def record(self, t: float, sample: Mapping[str, float]) -> None:
        """Adds one sample time; each known metric gets its value, or a gap if absent."""
        for key, series in self.series.items():
            value = sample.get(key)
            series.add(t, math.nan if value is None else float(value))
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        for metric in METRICS:
            series = self.series[metric.key]
            t, v = series.ordered()
            if metric.key not in self.plots and not np.isfinite(v).any():
                continue  # never measured (that part of the app is not running): no empty plot
            plot = self._plot_for(metric)
            self.curves[metric.key].setData(t, v)
            last = series.last
            shown = "—" if math.isnan(last) else f"{last:.3g} {metric.unit}".strip()
            plot.setTitle(f"{metric.title}: {shown}", size="9pt")

    def showEvent(self, event) -> None:  # catch up on what was recorded while hidden
        super().showEvent(event)
        self.refresh()
