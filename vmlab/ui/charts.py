"""Live Bokeh charts for notebooks: a widget bound to a ColumnDataSource, streamed and throttled.

A :class:`LiveChart` *is* a ``jupyter_bokeh.BokehModel`` widget (put it in any ipywidgets
layout). Add points with :meth:`LiveChart.push` or :meth:`LiveChart.extend` as often as you like:
they are buffered and streamed into the chart's ``ColumnDataSource`` (``stream(...,
rollover=N)``, so only the newest ``rollover`` points are kept) at most ``max_rate`` times per
second; a point held back by the throttle is sent by a timer on the event loop, or by the next
push, or by :meth:`LiveChart.flush`. Call these on the kernel's event-loop thread only (where
widget callbacks and ``Runner`` listeners run).

Bokeh's JavaScript must be loaded into the page before the first chart is shown, or the chart
stays blank: :func:`setup_notebook` does that (inline BokehJS, so it works offline) and every
chart calls it. Outside a Jupyter kernel it does nothing.

>>> chart = line_chart("clock", ["mips"], title="guest speed", y_label="MIPS")
>>> chart.push(clock=1.0, mips=250.0)
True
>>> chart.source.data["mips"]
[250.0]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bokeh.models import ColumnDataSource
from bokeh.plotting import figure
from ipywidgets import DOMWidget
from jupyter_bokeh import BokehModel

from .base import in_kernel

__all__ = [
    "PALETTE",
    "LiveChart",
    "MultiLineChart",
    "line_chart",
    "setup_notebook",
    "stacked_area_chart",
]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
KINDS = ("line", "stacked")

_notebook_ready = False


def setup_notebook(force: bool = False) -> bool:
    """Load BokehJS into the notebook once per kernel (inline, offline); False outside a kernel."""
    global _notebook_ready
    if not in_kernel():
        return False
    if _notebook_ready and not force:
        return True
    from bokeh.io import output_notebook
    from bokeh.resources import Resources

    # BokehJS itself, inline (works offline); not its widgets, tables, GL or MathJax bundles,
    # which vmlab's charts do not use (2.6 MB less to send to the browser and evaluate)
    output_notebook(resources=Resources(mode="inline", components=["bokeh"]), hide_banner=True)
    _notebook_ready = True
    return True


class OutputOnlyBokehModel(BokehModel):
    """A ``BokehModel`` that only sends to the browser and ignores what the browser sends back.

    jupyter_bokeh's frontend re-sends to Python every change it applies from a patch Python sent
    (a stream, a new column), and the Python side applies it again: streamed points arrive twice,
    and a replaced ``data`` can be set back to an older value that lacks a newer column. vmlab's
    charts are output only (zoom and pan work in the browser without Python), so the messages
    from the browser are dropped.
    """

    def _sync_model(self, model: BokehModel, content: dict[str, Any], buffers: list[Any]) -> None:
        """Drop a message from the browser (see the class docstring)."""


def _new_figure(
    title: str, x_label: str, y_label: str, height: int, width: int, y_start: float | None
) -> Any:
    """An empty Bokeh figure with the charts' tools (y from ``y_start`` if given)."""
    fig = figure(
        title=title,
        height=height,
        width=width,
        x_axis_label=x_label,
        y_axis_label=y_label,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="right",
    )
    if y_start is not None:
        fig.y_range.start = y_start
    return fig


def _legend_above(fig: Any) -> None:
    """Put the figure's legend in one row above the plot: it never hides the data."""
    legend = fig.legend[0]
    legend.orientation = "horizontal"
    legend.border_line_alpha = 0
    legend.padding = legend.margin = 2
    fig.add_layout(legend, "above")


class _StreamedChart(OutputOnlyBokehModel):
    """What both charts share: a source streamed with rollover, throttled, flushed by a timer."""

    source: ColumnDataSource

    def _setup_stream(
        self, rollover: int, max_rate: float, autoflush: bool, clock: Callable[[], float]
    ) -> None:
        if rollover < 1 or max_rate < 0:
            raise ValueError("rollover must be >= 1 and max_rate >= 0")
        self.rollover = int(rollover)
        self.max_rate = float(max_rate)
        self.autoflush = bool(autoflush)
        self.updates = 0  # times the source was streamed to
        self._clock = clock
        self._last_flush = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        """Points buffered by the throttle, not yet in the chart."""
        raise NotImplementedError

    def _take(self) -> dict[str, list[float]]:
        """The buffered points as columns for ``stream`` (and forget them)."""
        raise NotImplementedError

    def flush(self, force: bool = True) -> int:
        """Stream buffered points now (``force``) or if the throttle allows; returns how many."""
        n = self.pending
        if n == 0:
            return 0
        now = self._clock()
        wait = 0.0 if self.max_rate == 0 else self._last_flush + 1.0 / self.max_rate - now
        if not force and wait > 0:
            self._schedule(wait)
            return 0
        self.source.stream(self._take(), rollover=self.rollover)
        self._last_flush = now
        self.updates += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return n

    def _schedule(self, delay: float) -> None:
        """Send held-back points later, from the event loop (if this thread runs one)."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a script): the next push or flush() sends them
        self._timer = loop.call_later(delay, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush(force=True)

    def close(self) -> None:
        """Close the widget (and forget a pending timer)."""
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None
        if not hasattr(self, "_model"):  # __init__ failed before the figure was attached
            DOMWidget.close(self)
            return
        # jupyter_bokeh's close() closes the widget, then removes a document callback that
        # update_from_model registered another way (on_change_dispatch_to): a KeyError, seen
        # when Python exits. The widget is closed by then; nothing else is left to undo.
        with contextlib.suppress(KeyError):
            super().close()


class LiveChart(_StreamedChart):
    """A live line or stacked-area chart: a BokehModel widget whose source is streamed, throttled.

    Parameters
    ----------
    x : the name of the x column.
    series : the names of the y columns, one line (or one stacked band) each.
    kind : "line" or "stacked" (bands stacked in ``series`` order, first at the bottom).
    labels : legend labels of the series (default: their names).
    rollover : points kept in the chart (older ones scroll off).
    max_rate : at most this many updates of the chart per second (0: no limit).
    autoflush : push and extend update the chart (throttled); False: only ``flush()`` does,
        so that a dashboard can spread the updates of many charts over time.
    clock : the time source of the throttle (``time.monotonic``; tests pass a fake one).
    """

    def __init__(
        self,
        x: str,
        series: Sequence[str],
        *,
        kind: str = "line",
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        labels: Sequence[str] | None = None,
        rollover: int = 2_000,
        max_rate: float = 4.0,
        autoflush: bool = True,
        height: int = 220,
        width: int = 520,
        y_start: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        series = list(series)
        if kind not in KINDS:
            raise ValueError(f"unknown chart kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not series or x in series or len(set(series)) != len(series):
            raise ValueError(f"need distinct series names other than the x column {x!r}")
        labels = list(series if labels is None else labels)
        if len(labels) != len(series):
            raise ValueError(f"{len(labels)} labels for {len(series)} series")
        self._setup_stream(rollover, max_rate, autoflush, clock)
        setup_notebook()
        source = ColumnDataSource({name: [] for name in (x, *series)})
        fig = _new_figure(title, x_label, y_label, height, width, y_start)
        colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
        if kind == "stacked":
            fig.varea_stack(series, x=x, source=source, color=colors, legend_label=labels)
        else:
            for name, color, label in zip(series, colors, labels, strict=True):
                fig.line(x, name, source=source, color=color, line_width=2, legend_label=label)
                fig.scatter(x, name, source=source, color=color, size=4, legend_label=label)
        _legend_above(fig)
        self.x = x
        self.series = tuple(series)
        self.kind = kind
        self.source = source
        self.figure = fig
        self._pending: dict[str, list[float]] = {name: [] for name in (x, *series)}
        super().__init__(fig, **kwargs)

    @property
    def columns(self) -> tuple[str, ...]:
        """The source's columns: x first, then the series."""
        return (self.x, *self.series)

    @property
    def pending(self) -> int:
        """Points buffered by the throttle, not yet in the chart."""
        return len(self._pending[self.x])

    def push(self, **point: float) -> bool:
        """Add one point (a value for x and each series); True if the chart was updated now."""
        return self.extend({name: [value] for name, value in point.items()})

    def extend(self, data: Mapping[str, Sequence[float]]) -> bool:
        """Add several points (equal-length columns); True if the chart was updated now."""
        if set(data) != set(self.columns):
            missing = sorted(set(self.columns) - set(data))
            extra = sorted(set(data) - set(self.columns))
            raise ValueError(
                f"a point needs exactly the columns {', '.join(self.columns)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        lengths = {len(values) for values in data.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        for name in self.columns:
            buf = self._pending[name]
            buf.extend(float(v) for v in data[name])
            if len(buf) > self.rollover:  # only the newest rollover points can be shown anyway
                del buf[: len(buf) - self.rollover]
        return self.autoflush and self.flush(force=False) > 0

    def _take(self) -> dict[str, list[float]]:
        data, self._pending = self._pending, {name: [] for name in self.columns}
        return data

    def clear(self) -> None:
        """Remove every point, shown or pending."""
        self._pending = {name: [] for name in self.columns}
        self.source.data = {name: [] for name in self.columns}


def line_chart(x: str, series: Sequence[str], **kwargs: Any) -> LiveChart:
    """A live line chart widget (see :class:`LiveChart` for the options)."""
    return LiveChart(x, series, kind="line", **kwargs)


def stacked_area_chart(x: str, series: Sequence[str], **kwargs: Any) -> LiveChart:
    """A live stacked-area chart widget (see :class:`LiveChart` for the options)."""
    return LiveChart(x, series, kind="stacked", **kwargs)


class MultiLineChart(_StreamedChart):
    """A live chart with one line per key, keys added as they appear (one VM, one exit reason).

    All lines share one ``ColumnDataSource``: column ``x`` and one column per key, so each update
    is a single ``stream(..., rollover=N)`` message however many lines there are. A point gives a
    value for some keys; the others get NaN there, which Bokeh draws as a gap (a VM that was not
    running). Updates are throttled to ``max_rate`` per second like :class:`LiveChart`. A line is
    added by :meth:`add_line` or by the first :meth:`push` that names its key (earlier points are
    NaN for it). Lines that share a ``group`` share a colour (e.g. a VM's CPU share, solid, and
    its entitlement, dashed). ``autoflush`` as for :class:`LiveChart`.

    >>> chart = MultiLineChart(title="guest speed", y_label="MIPS")
    >>> chart.push(1.0, {"vm1": 250.0, "vm2": 120.0})
    True
    >>> chart.lines, chart.series("vm2")
    (('vm1', 'vm2'), ([1.0], [120.0]))
    """

    def __init__(
        self,
        *,
        title: str = "",
        x_label: str = "",
        y_label: str = "",
        rollover: int = 1_000,
        max_rate: float = 4.0,
        autoflush: bool = True,
        height: int = 220,
        width: int = 460,
        y_start: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        self._setup_stream(rollover, max_rate, autoflush, clock)
        setup_notebook()
        fig = _new_figure(title, x_label, y_label, height, width, y_start)
        self.figure = fig
        self.source = ColumnDataSource({"x": []})
        self._lines: list[str] = []
        self._groups: dict[str, str] = {}  # group -> colour
        self._pending: list[tuple[float, dict[str, float]]] = []
        super().__init__(fig, **kwargs)

    @property
    def lines(self) -> tuple[str, ...]:
        """The keys of the lines, in the order they were added."""
        return tuple(self._lines)

    @property
    def pending(self) -> int:
        """Points buffered by the throttle, not yet in the chart."""
        return len(self._pending)

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """The points of line ``key`` in the chart (x and y, where it has a value)."""
        if key not in self._lines:
            raise KeyError(f"no line {key!r}; lines: {', '.join(self._lines) or '(none)'}")
        xs, ys = self.source.data["x"], self.source.data[key]
        pairs = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if y == y]  # not NaN
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def add_line(
        self, key: str, label: str | None = None, group: str | None = None, dashed: bool = False
    ) -> None:
        """Add line ``key`` (NaN at the points already shown); nothing happens if it exists."""
        if key in self._lines:
            return
        if key == "x":
            raise ValueError("'x' is the name of the x column, not a line")
        group = key if group is None else group
        color = self._groups.get(group)
        if color is None:
            color = self._groups[group] = PALETTE[len(self._groups) % len(PALETTE)]
        self.flush()  # the points held back do not know the new column yet
        data = dict(self.source.data)
        data[key] = [float("nan")] * len(data["x"])
        self.source.data = data
        self.figure.line(
            "x",
            key,
            source=self.source,
            color=color,
            line_width=2,
            line_dash="dashed" if dashed else "solid",
            legend_label=key if label is None else label,
        )
        if not self._lines:
            _legend_above(self.figure)
            self.figure.legend[0].label_text_font_size = "10px"
        self._lines.append(key)

    def push(self, x: float, values: Mapping[str, float]) -> bool:
        """Add a point at ``x`` with a value for some lines; True if the chart was updated now."""
        for key in values:
            self.add_line(key)
        self._pending.append((float(x), {k: float(v) for k, v in values.items()}))
        if len(self._pending) > self.rollover:
            del self._pending[: len(self._pending) - self.rollover]
        return self.autoflush and self.flush(force=False) > 0

    def _take(self) -> dict[str, list[float]]:
        points, self._pending = self._pending, []
        nan = float("nan")
        data: dict[str, list[float]] = {"x": [x for x, _ in points]}
        for key in self._lines:
            data[key] = [values.get(key, nan) for _, values in points]
        return data

    def clear(self) -> None:
        """Remove every point, shown or pending (the lines stay)."""
        self._pending = []
        self.source.data = {name: [] for name in ("x", *self._lines)}
