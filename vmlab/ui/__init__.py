"""Notebook widgets and live charts for vmlab; they use only vmlab's public API.

- :class:`Dashboard` (``vmlab.lab()``): create, run, snapshot and compare VMs with live charts.
- :class:`Debugger` (``machine.debugger()``): step, breakpoints, registers, memory, disassembly.
- :class:`VMWidget` (``vm.widget()``): lifecycle buttons, console and live charts of one VM.
- :class:`Runner`: runs a Machine or a Hypervisor in slices in the background (or step by step).
- :class:`LiveChart`, :func:`line_chart`, :func:`stacked_area_chart`, :class:`MultiLineChart`: throttled, streamed Bokeh
  charts as widgets; :func:`setup_notebook` loads BokehJS (each chart calls it for you).
"""

from .charts import LiveChart, MultiLineChart, line_chart, setup_notebook, stacked_area_chart
from .dashboard import Dashboard, lab
from .debugger import Debugger
from .runner import Runner, Slice, runner_for
from .vmwidget import VMWidget

__all__ = [
    "Dashboard",
    "Debugger",
    "LiveChart",
    "MultiLineChart",
    "Runner",
    "Slice",
    "VMWidget",
    "lab",
    "line_chart",
    "runner_for",
    "setup_notebook",
    "stacked_area_chart",
]
