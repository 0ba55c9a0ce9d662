"""Notebook widgets and live charts for vmlab; they use only vmlab's public API.

- :class:`Dashboard` (``vmlab.lab()``): create, run, snapshot and compare VMs with live charts.
- :class:`Debugger` (``machine.debugger()``): step, breakpoints, registers, memory, disassembly.
- :class:`VMWidget` (``vm.widget()``): lifecycle buttons, console and live charts of one VM.
- :class:`Runner`: runs a Machine or a Hypervisor in slices in the background (or step by step).
- :class:`LiveChart`, :func:`line_chart`, :func:`stacked_area_chart`, :class:`MultiLineChart`:
  throttled, streamed Bokeh charts as widgets; :func:`setup_notebook` loads BokehJS (each chart
  calls it for you).

Names are imported on first use, so that ``vmlab.lab()`` shows its controls before Bokeh (the
charts' library, slow to import) has loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .charts import LiveChart, MultiLineChart, line_chart, setup_notebook, stacked_area_chart
    from .dashboard import Dashboard, lab
    from .debugger import Debugger
    from .runner import Runner, Slice, runner_for
    from .vmwidget import VMWidget

_WHERE = {
    "Dashboard": "dashboard",
    "lab": "dashboard",
    "Debugger": "debugger",
    "LiveChart": "charts",
    "MultiLineChart": "charts",
    "line_chart": "charts",
    "setup_notebook": "charts",
    "stacked_area_chart": "charts",
    "Runner": "runner",
    "Slice": "runner",
    "runner_for": "runner",
    "VMWidget": "vmwidget",
}

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


def __getattr__(name: str) -> Any:
    """Import ``vmlab.ui.NAME`` from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vmlab.ui' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (``dir(vmlab.ui)``)."""
    return sorted(set(globals()) | set(_WHERE))
