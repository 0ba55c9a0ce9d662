"""Small pieces the widgets share: the VM lifecycle table, state colours, kernel detection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets

__all__ = ["ACTIONS", "LEGAL", "STATE_COLORS", "in_kernel", "lifecycle_buttons"]

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


BUTTON_STYLES = {"start": "success", "stop": "danger", "reset": "warning", "delete": "danger"}


def lifecycle_buttons(
    actions: Sequence[str],
    legal: Mapping[str, tuple[str, ...]],
    on_click: Callable[[str], None],
    width: str,
    subject: str = "",
) -> dict[str, widgets.Button]:
    """One button per lifecycle action (class ``vmlab-ACTION``); a click calls ``on_click(action)``."""
    buttons: dict[str, widgets.Button] = {}
    for action in actions:
        button = widgets.Button(
            description=action.capitalize(),
            button_style=BUTTON_STYLES.get(action, ""),
            tooltip=f"{action}{subject} (legal when {' or '.join(legal[action])})",
            layout=widgets.Layout(width=width),
        )
        button.add_class(f"vmlab-{action}")
        button.on_click(lambda _, a=action: on_click(a))
        buttons[action] = button
    return buttons
