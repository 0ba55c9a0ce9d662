"""Live charts: a BokehModel widget over a ColumnDataSource, streamed with rollover, throttled."""

from __future__ import annotations

import asyncio

import pytest
from bokeh.models import Line, VArea
from jupyter_bokeh import BokehModel

from vmlab.ui import LiveChart, line_chart, setup_notebook, stacked_area_chart


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def glyphs(chart: LiveChart, kind: type) -> list:
    return [r.glyph for r in chart.figure.renderers if isinstance(r.glyph, kind)]


def test_a_chart_is_a_bokeh_widget_bound_to_its_source() -> None:
    chart = line_chart("t", ["a", "b"], title="demo")
    assert isinstance(chart, BokehModel)
    assert set(chart.source.data) == {"t", "a", "b"}
    assert len(glyphs(chart, Line)) == 2
    assert all(r.data_source is chart.source for r in chart.figure.renderers)


def test_a_stacked_chart_stacks_one_band_per_series_in_order() -> None:
    chart = stacked_area_chart("t", ["guest", "hypervisor"], labels=["guest", "VMM"])
    bands = glyphs(chart, VArea)
    assert len(bands) == 2
    assert [item.label.value for item in chart.figure.legend.items] == ["guest", "VMM"]


def test_the_first_point_is_shown_at_once() -> None:
    chart = line_chart("t", ["y"], clock=FakeClock())
    assert chart.push(t=1, y=10) is True
    assert chart.source.data == {"t": [1.0], "y": [10.0]}
    assert chart.updates == 1


def test_points_within_the_throttle_interval_wait_then_go_together() -> None:
    clock = FakeClock()
    chart = line_chart("t", ["y"], max_rate=4, clock=clock)
    chart.push(t=1, y=1)
    clock.now += 0.1  # less than 1/4 s later: held back
    assert chart.push(t=2, y=2) is False
    assert chart.push(t=3, y=3) is False
    assert chart.pending == 2
    assert chart.source.data["t"] == [1.0]
    clock.now += 0.2  # 0.3 s after the first update: the next push sends all waiting points
    assert chart.push(t=4, y=4) is True
    assert chart.source.data["t"] == [1.0, 2.0, 3.0, 4.0]
    assert chart.updates == 2 and chart.pending == 0


def test_many_pushes_make_few_updates() -> None:
    clock = FakeClock()
    chart = line_chart("t", ["y"], max_rate=4, clock=clock)
    for i in range(100):  # 100 points over one second
        chart.push(t=i, y=i)
        clock.now += 0.01
    assert chart.updates <= 4
    chart.flush()
    assert chart.source.data["t"] == [float(i) for i in range(100)]


def test_rollover_keeps_only_the_newest_points() -> None:
    chart = line_chart("t", ["y"], rollover=5, max_rate=0)
    for i in range(12):
        chart.push(t=i, y=10 * i)
    assert chart.source.data["t"] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert chart.source.data["y"] == [70.0, 80.0, 90.0, 100.0, 110.0]


def test_points_held_back_are_bounded_by_the_rollover() -> None:
    clock = FakeClock()
    chart = line_chart("t", ["y"], rollover=3, clock=clock)
    chart.push(t=0, y=0)
    chart.extend({"t": list(range(1, 10)), "y": list(range(1, 10))})
    assert chart.pending == 3
    chart.flush()
    assert chart.source.data["t"] == [7.0, 8.0, 9.0]


def test_a_held_back_point_is_sent_by_a_timer_on_the_event_loop() -> None:
    async def scenario() -> list[float]:
        chart = line_chart("t", ["y"], max_rate=20)
        chart.push(t=1, y=1)
        chart.push(t=2, y=2)  # within 50 ms: waits for the timer
        assert chart.source.data["t"] == [1.0]
        for _ in range(200):  # the timer fires after 50 ms (later on a busy machine)
            await asyncio.sleep(0.01)
            if chart.pending == 0:
                break
        return chart.source.data["t"]

    assert asyncio.run(scenario()) == [1.0, 2.0]


def test_extend_adds_columns_of_points() -> None:
    chart = stacked_area_chart("t", ["a", "b"], max_rate=0)
    chart.extend({"t": [1, 2], "a": [0.5, 0.6], "b": [0.1, 0.2]})
    assert chart.source.data == {"t": [1.0, 2.0], "a": [0.5, 0.6], "b": [0.1, 0.2]}


def test_clear_forgets_shown_and_pending_points() -> None:
    clock = FakeClock()
    chart = line_chart("t", ["y"], clock=clock)
    chart.push(t=1, y=1)
    chart.push(t=2, y=2)
    chart.clear()
    assert chart.pending == 0 and chart.source.data == {"t": [], "y": []}


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({"t": 1}, "missing y"),
        ({"t": 1, "y": 2, "z": 3}, "unknown z"),
    ],
)
def test_a_point_with_wrong_columns_is_a_clear_error(point: dict, message: str) -> None:
    chart = line_chart("t", ["y"])
    with pytest.raises(ValueError, match=message):
        chart.push(**point)


def test_columns_of_different_lengths_are_an_error() -> None:
    chart = line_chart("t", ["y"])
    with pytest.raises(ValueError, match="different lengths"):
        chart.extend({"t": [1, 2], "y": [1]})


def test_bad_chart_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown chart kind 'pie'"):
        LiveChart("t", ["y"], kind="pie")
    with pytest.raises(ValueError, match="distinct series"):
        line_chart("t", ["t"])
    with pytest.raises(ValueError, match="2 labels for 1 series"):
        line_chart("t", ["y"], labels=["a", "b"])


def test_setup_notebook_does_nothing_outside_a_kernel() -> None:
    assert setup_notebook() is False


def test_the_browser_echo_of_a_stream_is_ignored() -> None:
    """jupyter_bokeh's frontend sends back each patch it applied; applying it again doubles data."""
    from bokeh.core.serialization import Serializer
    from bokeh.document.events import ColumnsStreamedEvent
    from jupyter_bokeh import BokehModel

    from vmlab.ui import MultiLineChart

    def echo() -> dict:
        doc = chart.source.document
        event = ColumnsStreamedEvent(doc, chart.source, "data", {"x": [1.0], "a": [2.0]}, None)
        rep = Serializer(references=set(doc.models)).encode(event)
        return {**rep, "event": "jsevent"}

    chart = MultiLineChart(max_rate=0)
    chart.push(1.0, {"a": 2.0})
    chart._sync_model(chart, echo(), [])
    assert chart.source.data["x"] == [1.0]  # ignored
    BokehModel._sync_model(chart, chart, echo(), [])  # what jupyter_bokeh itself would do
    assert chart.source.data["x"] == [1.0, 1.0]  # the point twice: why it must be ignored


def test_a_script_that_makes_the_dashboard_exits_without_noise() -> None:
    import subprocess
    import sys

    code = "import vmlab; d = vmlab.lab(autorun=False); print(type(d).__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "Dashboard"
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
