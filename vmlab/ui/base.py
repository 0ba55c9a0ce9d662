"""Small pieces the widgets share: the VM lifecycle table, state colours, kernel detection."""

from __future__ import annotations

__all__ = ["ACTIONS", "LEGAL", "STATE_COLORS", "in_kernel"]

ACTIONS = ("start", "pause", "resume", "stop", "reset")
# the VM states in which each lifecycle request is legal (vmlab/hypervisor/vm.py's docstring)
LEGAL: dict[str, tuple[str, ...]] = {
    "start": ("created",),
    "pause": ("running",),
    "resume": ("paused",),
    "stop": ("created", "running", "paused"),
    "reset": ("created", "running", "paused", "stopped"),
}
STATE_COLORS = {
    "created": "#607d8b",
    "running": "#2e7d32",
    "paused": "#f9a825",
    "stopped": "#c62828",
    "deleted": "#424242",
}


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can be displayed)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
