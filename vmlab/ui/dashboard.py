"""The lab dashboard (``vmlab.lab()`` in Jupyter): create, run, snapshot and compare VMs, live.

One widget for a whole ``Hypervisor``, built only on vmlab's public API:

- **host**: memory and CPU of the emulated host; *Run host* / *Pause host* start and pause the
  background run of every VM (the shared :class:`~vmlab.ui.runner.Runner`);
- **create a VM**: name, image, memory, technique, shares and ``strict``; a paravirtual VM gets
  the image's paravirtualized build (``PV=1``);
- **VMs**: one row per VM with its state and the lifecycle buttons that are legal in that state
  (start, pause, resume, stop, reset, delete);
- **live charts**, updated a few times per second while VMs run (streamed with rollover, so an
  hour-long run neither grows memory nor slows the browser): guest MIPS per VM (host wall clock),
  the host CPU split into guest / hypervisor / idle (modelled cycles), exits per second by reason
  (host wall clock), each VM's CPU share (solid) against its entitlement by shares, reservation
  and limit (dashed), and memory per VM;
- **console and snapshots** of the selected VM: its console (and a line of input to send it), the
  snapshot tree with take / restore / delete, clone (linked or full), export to a file and
  import from one. A running VM is paused for a snapshot, clone or export and then resumed;
- **compare**: any two VMs or snapshots side by side (``vmlab.compare``), and for two VMs their
  guest instructions and hypervisor cycles over host time, overlaid.

Every button acknowledges its click at once in the status line (``last_ack``); the action itself
runs between two slices of the background run (within one slice, ~50 ms). Errors from the library
(an illegal transition, no host memory, a bad import file) appear as a readable message in the
status line, never as a traceback. Drive it from code as a test or a notebook does:

>>> from vmlab import Hypervisor
>>> d = Dashboard(Hypervisor(host_memory="16M"), autorun=False)
>>> d.name_text.value, d.image_dropdown.value = "a", "hello"
>>> d.create_button.click(); d.rows["a"].state
'created'
>>> d.rows["a"].buttons["resume"].click(); d.error
"VMStateError: cannot resume VM 'a': it is created; resume is allowed when paused"
"""

from __future__ import annotations

import asyncio
import html
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from traitlets import Int, Unicode

from .. import images
from ..comparison import compare
from ..hypervisor import VM, Hypervisor
from ..hypervisor.snapshot import tree_indent, walk_tree
from ..hypervisor.vm import MODES
from .base import LEGAL, STATE_COLORS, in_kernel, lifecycle_buttons
from .debugger import MONO, console_html, error_text
from .runner import Runner, event_loop_running, runner_for

if TYPE_CHECKING:
    from .charts import MultiLineChart

__all__ = ["MEMORY_CHOICES", "VM_ACTIONS", "Dashboard", "VMRow", "lab"]

VM_ACTIONS = ("start", "pause", "resume", "stop", "reset", "delete")
DASHBOARD_LEGAL: dict[str, tuple[str, ...]] = {**LEGAL, "delete": ("created", "stopped")}
MEMORY_CHOICES = ("256K", "512K", "1M", "2M", "4M", "8M", "16M")
SNAPSHOT_STATES = ("created", "paused", "stopped")  # where snapshot, clone and export are legal
CHART_WIDTH = 430
CHART_HEIGHT = 210
CHARTS_PER_REFRESH = 1  # charts updated per refresh, in turn (spreads the browser's work)
CHART_POINTS = 600  # points kept per chart (at 4 points/s: the last 2.5 minutes)


def _badge(state: str) -> str:
    color = STATE_COLORS.get(state, "#000")
    return (
        f'<span class="vmlab-state" style="color:white; background:{color}; padding:1px 8px; '
        f'border-radius:8px">{state}</span>'
    )


class VMRow(widgets.HBox):
    """One VM in the dashboard's list: a summary, its state and its lifecycle buttons."""

    def __init__(self, dashboard: Dashboard, vm: VM) -> None:
        self.vm = vm
        self.state = ""
        self.label_html = widgets.HTML(layout=widgets.Layout(width="330px"))
        self.buttons = lifecycle_buttons(
            VM_ACTIONS,
            DASHBOARD_LEGAL,
            lambda action: dashboard.request(self.vm, action),
            width="72px",
            subject=f" VM {vm.name}",
        )
        super().__init__([self.label_html, *self.buttons.values()])
        self.add_class("vmlab-vm-row")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the VM's state: the badge and which buttons are enabled."""
        vm = self.vm
        self.state = vm.state
        for action, button in self.buttons.items():
            button.disabled = self.state not in DASHBOARD_LEGAL[action]
        why = (  # why it stopped, or was paused by the hypervisor (host memory ran out)
            f'<div class="vmlab-vm-message" style="color:#555">{html.escape(vm.message)}</div>'
            if vm.message
            else ""
        )
        self.label_html.value = (
            f'<div style="{MONO}" data-vm="{html.escape(vm.name)}"><b>{html.escape(vm.name)}</b> '
            f"{html.escape(vm.mode)} · {vm.memory_size // 1024:,} KiB · {vm.shares} shares "
            f"{_badge(self.state)}{why}</div>"
        )


class Dashboard(widgets.VBox):
    """Create, run, snapshot and compare the VMs of one ``Hypervisor``, with live charts.

    Parameters
    ----------
    hv : the hypervisor (default: a new one with ``host_memory``).
    autorun : starting or resuming a VM also runs the hypervisor in the background (when an
        event loop runs, as in Jupyter); without it, run ``hv.run(...)`` and call ``refresh()``.
    runner : the Runner that advances the hypervisor (default: the hypervisor's shared one).
    export_dir : the folder that export and import paths are relative to.
    host_memory, cpus : the memory and CPUs of the new hypervisor made when ``hv`` is None.
    """

    error = Unicode("", help="the last error, as a readable message ('' after a success)")
    message = Unicode("", help="what the last action did")
    last_ack = Int(0, help="sequence number of the last button click the dashboard handled")

    def __init__(
        self,
        hv: Hypervisor | None = None,
        *,
        autorun: bool = True,
        runner: Runner | None = None,
        export_dir: str | Path = ".",
        host_memory: int | str = "64M",
        cpus: int = 1,
    ) -> None:
        started = time.perf_counter()
        self.hv = Hypervisor(host_memory=host_memory, cpus=cpus) if hv is None else hv
        if not isinstance(self.hv, Hypervisor):
            raise TypeError(f"Dashboard needs a vmlab Hypervisor, not {type(hv).__name__}")
        self.runner = runner if runner is not None else runner_for(self.hv)
        self.autorun = bool(autorun)
        self.export_dir = Path(export_dir)
        self.rows: dict[str, VMRow] = {}
        self.ack_time = 0.0  # time.time() when the last click was handled
        self._flush_next = 0  # the chart _flush_in_turn looks at first
        self._last: dict[str, Any] | None = None  # counters at the previous chart point
        self._signatures: dict[str, Any] = {}
        self._overlay: tuple[VM, VM, int] | None = None  # the two VMs overlaid, last clock shown
        self._overlay_held: dict[str, Any] = {}  # each overlaid side's latest sample

        # ---- host and status
        self.host_html = widgets.HTML()
        self.status_html = widgets.HTML()
        self.status_html.add_class("vmlab-status")
        self.run_button = widgets.Button(description="Run host", icon="play")
        self.pause_host_button = widgets.Button(description="Pause host", icon="pause")
        self.run_button.on_click(lambda _: self._click("run host", self._run_host))
        self.pause_host_button.on_click(lambda _: self._click("pause host", self._pause_host))

        # ---- create form
        names = images.names()
        self.name_text = widgets.Text(description="name", layout=widgets.Layout(width="200px"))
        self.image_dropdown = widgets.Dropdown(
            options=names,
            value="minikernel" if "minikernel" in names else names[0],
            description="image",
            layout=widgets.Layout(width="210px"),
        )
        self.memory_dropdown = widgets.Dropdown(
            options=MEMORY_CHOICES,
            value="4M",
            description="memory",
            layout=widgets.Layout(width="170px"),
        )
        self.mode_dropdown = widgets.Dropdown(
            options=MODES,
            value="hw-assist",
            description="mode",
            layout=widgets.Layout(width="260px"),
        )
        self.shares_text = widgets.BoundedIntText(
            value=1000,
            min=1,
            max=1_000_000,
            description="shares",
            layout=widgets.Layout(width="170px"),
        )
        self.strict_checkbox = widgets.Checkbox(value=True, description="strict", indent=False)
        self.create_button = widgets.Button(description="Create VM", button_style="primary")
        self.create_button.add_class("vmlab-create")
        self.create_button.on_click(lambda _: self._click("create VM", self.create))
        self.vm_list = widgets.VBox()

        # ---- live charts (made by _build_charts: at once, or in Jupyter just after showing)
        self.charts_ready = False
        self.charts: tuple[Any, ...] = ()
        self.chart_grid = widgets.GridBox(
            [widgets.HTML(f'<div style="{MONO}; color:#888">loading the live charts…</div>')],
            layout=widgets.Layout(grid_template_columns=f"repeat(2, {CHART_WIDTH + 20}px)"),
        )
        self.overlay_box = widgets.HBox()

        # ---- console and snapshots of the selected VM
        self.vm_dropdown = widgets.Dropdown(description="VM", options=[])
        self.vm_dropdown.observe(lambda _: self._refresh_selected(force=True), "value")
        self.console_html = widgets.HTML()
        self.input_text = widgets.Text(placeholder="text to type into its console")
        self.send_button = widgets.Button(description="Send")
        self.send_button.on_click(lambda _: self._click("send input", self.send_input))
        self.snapshot_select = widgets.Select(options=[], rows=6, layout={"width": "420px"})
        self.snapshot_name_text = widgets.Text(description="snapshot")
        self.take_button = widgets.Button(description="Take snapshot", button_style="info")
        self.take_button.add_class("vmlab-take")
        self.restore_button = widgets.Button(description="Restore")
        self.delete_snapshot_button = widgets.Button(description="Delete snapshot")
        self.take_button.on_click(lambda _: self._click("take snapshot", self.take_snapshot))
        self.restore_button.on_click(lambda _: self._click("restore", self.restore_snapshot))
        self.delete_snapshot_button.on_click(
            lambda _: self._click("delete snapshot", self.delete_snapshot)
        )
        self.clone_name_text = widgets.Text(description="new name")
        self.linked_checkbox = widgets.Checkbox(value=True, description="linked", indent=False)
        self.clone_button = widgets.Button(description="Clone")
        self.clone_button.on_click(lambda _: self._click("clone", self.clone))
        self.path_text = widgets.Text(description="file", placeholder="NAME.vmlab")
        self.export_button = widgets.Button(description="Export")
        self.import_button = widgets.Button(description="Import")
        self.export_button.on_click(lambda _: self._click("export", self.export))
        self.import_button.on_click(lambda _: self._click("import", self.import_vm))

        # ---- compare
        self.compare_a = widgets.Dropdown(description="A", options=[])
        self.compare_b = widgets.Dropdown(description="B", options=[])
        self.compare_button = widgets.Button(description="Compare", button_style="info")
        self.compare_button.add_class("vmlab-compare")
        self.compare_button.on_click(lambda _: self._click("compare", self.compare))
        self.compare_html = widgets.HTML()
        self.compare_html.add_class("vmlab-compare-result")

        def section(title: str) -> widgets.HTML:
            return widgets.HTML(f"<h4 style='margin:8px 0 2px 0'>{title}</h4>")

        super().__init__(
            [
                widgets.HBox([self.host_html, self.run_button, self.pause_host_button]),
                self.status_html,
                section("Create a VM"),
                widgets.HBox([self.name_text, self.image_dropdown, self.memory_dropdown]),
                widgets.HBox(
                    [self.mode_dropdown, self.shares_text, self.strict_checkbox, self.create_button]
                ),
                section("VMs"),
                self.vm_list,
                section("Live charts"),
                self.chart_grid,
                section("Console and snapshots"),
                self.vm_dropdown,
                self.console_html,
                widgets.HBox([self.input_text, self.send_button]),
                widgets.HBox(
                    [
                        self.snapshot_select,
                        widgets.VBox(
                            [
                                self.snapshot_name_text,
                                widgets.HBox(
                                    [
                                        self.take_button,
                                        self.restore_button,
                                        self.delete_snapshot_button,
                                    ]
                                ),
                                widgets.HBox(
                                    [self.clone_name_text, self.linked_checkbox, self.clone_button]
                                ),
                                widgets.HBox(
                                    [self.path_text, self.export_button, self.import_button]
                                ),
                            ]
                        ),
                    ]
                ),
                section("Compare"),
                widgets.HBox([self.compare_a, self.compare_b, self.compare_button]),
                self.overlay_box,
                self.compare_html,
            ]
        )
        self.add_class("vmlab-dashboard")
        self.runner.on_update(self._on_runner)
        self.name_text.value = self._free_name()
        self.build_seconds = time.perf_counter() - started  # how long making the controls took
        self.charts_seconds = 0.0  # ... and the charts (Bokeh is slow to import the first time)
        try:
            loop = asyncio.get_running_loop() if in_kernel() else None
        except RuntimeError:
            loop = None
        if loop is None:
            self._build_charts()
        else:  # show the controls now; the charts follow as soon as the cell has finished
            loop.call_soon(self._build_charts)
        self.refresh()

    def _build_charts(self) -> None:
        """Make the live charts and the compare overlays (imports Bokeh)."""
        if self.charts_ready or not hasattr(self, "chart_grid"):
            return
        started = time.perf_counter()
        from .charts import MultiLineChart, stacked_area_chart

        common: dict[str, Any] = {
            "x_label": "host clock (million cycles)",
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "y_start": 0,
            "max_rate": 0,
            "autoflush": False,  # refresh sends CHARTS_PER_REFRESH charts at a time, in turn
            "rollover": CHART_POINTS,
        }
        self.mips_chart = MultiLineChart(
            title="Guest speed per VM (host wall clock)", y_label="MIPS", **common
        )
        self.overhead_chart = stacked_area_chart(
            "clock",
            ["guest", "hypervisor", "idle"],
            title="Host CPU: guest / hypervisor / idle",
            y_label="fraction of host cycles",
            **common,
        )
        self.exits_chart = MultiLineChart(
            title="Exits per second by reason (host wall clock)", y_label="exits/s", **common
        )
        self.share_chart = MultiLineChart(
            title="CPU share per VM (solid) vs entitlement (dashed)",
            y_label="fraction of the host CPU",
            **common,
        )
        self.memory_chart = MultiLineChart(
            title="Memory per VM", y_label="MiB of host frames", **common
        )
        self.charts = (
            self.mips_chart,
            self.overhead_chart,
            self.exits_chart,
            self.share_chart,
            self.memory_chart,
        )

        self.overlay_instructions = MultiLineChart(
            title="Guest instructions (millions)", y_label="millions", **common
        )
        self.overlay_hypervisor = MultiLineChart(
            title="Hypervisor cycles (millions)", y_label="millions", **common
        )

        self.chart_grid.children = self.charts
        self.overlay_box.children = (self.overlay_instructions, self.overlay_hypervisor)
        self.charts_ready = True
        for vm in self.hv.vms:
            self._add_lines(vm.name)
        self.charts_seconds = time.perf_counter() - started
        self.refresh()

    async def ready(self) -> None:
        """Wait until the live charts exist (in Jupyter they are made just after the controls)."""
        while not self.charts_ready:
            await asyncio.sleep(0.01)

    # ---- running actions -------------------------------------------------------------------------
    def _click(self, what: str, action: Callable[[], str | None]) -> None:
        """A button's handler: acknowledge at once, act between slices, show errors as messages."""
        self.last_ack += 1
        self.ack_time = time.time()  # wall clock: a browser on this machine can compare it
        seq = self.last_ack
        self._status(f"{what}…", seq, pending=True)

        def act() -> None:
            try:
                done = action()
            except Exception as exc:
                self.error = error_text(exc)
                self.message = ""
                if os.environ.get("VMLAB_UI_DEBUG"):  # the whole story, for vmlab's developers
                    traceback.print_exception(exc, file=sys.__stderr__)
            else:
                self.error = ""
                self.message = done or f"{what}: done"
            self.refresh()

        self.runner.do(act)

    def _status(self, text: str, seq: int | None = None, pending: bool = False) -> None:
        """The status line: the message, tagged with the click's number (``data-ack``) for tests."""
        seq = self.last_ack if seq is None else seq
        body = (
            f'<span style="color:#b00020">⚠ {html.escape(self.error)}</span>'
            if self.error
            else html.escape(text)
        )
        done = 0 if pending else 1
        handled = round(self.ack_time * 1000)  # ms since the epoch when the click was handled
        self.status_html.value = (
            f'<div style="{MONO}" data-ack="{seq}" data-done="{done}" data-t="{handled}">'
            f"{body}</div>"
        )

    def _run_host(self) -> str:
        if not event_loop_running():
            raise RuntimeError("running in the background needs Jupyter (an event loop)")
        if not any(vm.state == "running" for vm in self.hv.vms):
            return "no VM is running: start one"
        self.runner.start()
        return "the host runs its VMs in the background"

    def _pause_host(self) -> str:
        self.runner.pause()
        return "the host stops after its current slice (VMs keep their state)"

    def _vm_named(self, name: str | None, what: str) -> VM:
        if not name:
            raise ValueError(f"choose a VM to {what} first")
        return self.hv.vm(name)

    def _with_vm_paused(self, vm: VM, action: Callable[[], Any]) -> tuple[Any, bool]:
        """Run ``action`` with ``vm`` paused if it is running (then resume it)."""
        if vm.state != "running":
            return action(), False
        vm.pause()
        try:
            return action(), True
        finally:
            if vm.state == "paused":
                vm.resume()

    async def wait(self, timeout: float | None = None) -> str:
        """Wait until the background run ends (every VM stopped or paused, or Pause host)."""
        state = await self.runner.wait(timeout)
        self.refresh()
        return state

    # ---- the create form and the VM list ----------------------------------------------------------
    def _free_name(self) -> str:
        taken = {vm.name for vm in self.hv.vms}
        n = 1
        while f"vm{n}" in taken:
            n += 1
        return f"vm{n}"

    def create(self) -> str:
        """Create a VM from the form's values (what the *Create VM* button does)."""
        name = self.name_text.value.strip()
        if not name:
            raise ValueError("give the new VM a name")
        mode = self.mode_dropdown.value
        defines = {"PV": 1} if mode == "paravirtual" else {}
        image = images.load(self.image_dropdown.value, **defines)
        vm = self.hv.create_vm(
            name,
            image,
            memory=self.memory_dropdown.value,
            mode=mode,
            shares=int(self.shares_text.value),
            strict=bool(self.strict_checkbox.value),
        )
        self.name_text.value = self._free_name()
        if not self.vm_dropdown.value:
            self._refresh_lists()
            self.vm_dropdown.value = vm.name
        pv = " (its paravirtualized build, PV=1)" if defines else ""
        return f"created VM {vm.name}: {self.image_dropdown.value}{pv}, {mode}; press Start"

    def request(self, vm: VM, action: str) -> None:
        """Ask ``vm`` for a lifecycle action, as its row's button does."""
        if action not in DASHBOARD_LEGAL:
            raise ValueError(f"unknown action {action!r}; choose one of {', '.join(VM_ACTIONS)}")

        def act() -> str:
            getattr(vm, action)()
            if action in ("start", "resume") and self.autorun:
                self.runner.start_if_possible()
            done = {
                "start": "started",
                "resume": "resumed",
                "pause": "paused",
                "stop": "stopped",
                "delete": "deleted",
            }
            return f"{done.get(action, action)} VM {vm.name}"

        self._click(f"{action} {vm.name}", act)

    # ---- console, snapshots, clones, files ---------------------------------------------------------
    @property
    def selected(self) -> VM | None:
        """The VM shown in the console and snapshots section (None when there are none)."""
        name = self.vm_dropdown.value
        return self.hv.vm(name) if name else None

    def select(self, name: str) -> None:
        """Show VM ``name`` in the console and snapshots section."""
        self._refresh_lists()
        self.vm_dropdown.value = self.hv.vm(name).name

    def send_input(self) -> str:
        """Type the input box's text (and a newline) into the selected VM's console."""
        vm = self._vm_named(self.vm_dropdown.value, "send input to")
        text = self.input_text.value
        vm.feed((text + "\n").encode())
        self.input_text.value = ""
        return f"sent {len(text) + 1} bytes to VM {vm.name}'s console"

    def take_snapshot(self) -> str:
        """Snapshot the selected VM under the name in the box (a running VM is paused for it)."""
        vm = self._vm_named(self.vm_dropdown.value, "snapshot")
        name = self.snapshot_name_text.value.strip() or self._free_snapshot_name(vm)
        snap, paused = self._with_vm_paused(vm, lambda: vm.snapshot(name))
        self.snapshot_name_text.value = ""
        kind = "incremental" if snap.incremental else "full"
        note = " (paused for it, then resumed)" if paused else ""
        return f"snapshot {snap.name} of VM {vm.name}: {kind}, {snap.pages_stored} pages{note}"

    @staticmethod
    def _free_snapshot_name(vm: VM) -> str:
        taken = {s.name for s in vm.snapshots}
        n = 1
        while f"snap{n}" in taken:
            n += 1
        return f"snap{n}"

    def _selected_snapshot(self, what: str) -> Any:
        snap = self.snapshot_select.value
        if snap is None:
            raise ValueError(f"choose a snapshot to {what} in the list first")
        return snap

    def restore_snapshot(self) -> str:
        """Return the selected VM to the snapshot chosen in the tree."""
        vm = self._vm_named(self.vm_dropdown.value, "restore")
        snap = self._selected_snapshot("restore")
        vm.restore(snap)
        return f"VM {vm.name} restored to snapshot {snap.name}: it is {vm.state}"

    def delete_snapshot(self) -> str:
        """Delete the snapshot chosen in the tree (its children keep working)."""
        vm = self._vm_named(self.vm_dropdown.value, "delete a snapshot of")
        snap = self._selected_snapshot("delete")
        vm.delete_snapshot(snap)
        return f"deleted snapshot {snap.name} of VM {vm.name}"

    def clone(self) -> str:
        """Clone the selected VM under the new name (linked or full, as the checkbox says)."""
        vm = self._vm_named(self.vm_dropdown.value, "clone")
        name = self.clone_name_text.value.strip() or f"{vm.name}-clone"
        linked = bool(self.linked_checkbox.value)
        new, paused = self._with_vm_paused(vm, lambda: vm.clone(name, linked=linked))
        self.clone_name_text.value = ""
        note = " (the source was paused for it, then resumed)" if paused else ""
        kind = "linked (copy-on-write)" if linked else "full"
        return f"VM {new.name}: a {kind} clone of {vm.name}, {new.state}{note}"

    def _path(self, default: str) -> Path:
        text = self.path_text.value.strip() or default
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.export_dir / path

    def export(self) -> str:
        """Write the selected VM (with its snapshots) to the file in the box."""
        vm = self._vm_named(self.vm_dropdown.value, "export")
        path = self._path(f"{vm.name}.vmlab")
        _, paused = self._with_vm_paused(vm, lambda: vm.export(path))
        note = " (paused for it, then resumed)" if paused else ""
        return f"exported VM {vm.name} to {path} ({path.stat().st_size:,} bytes){note}"

    def import_vm(self) -> str:
        """Load the VM in the file in the box (named as the *new name* box says, if set)."""
        path = self._path("")
        if not self.path_text.value.strip():
            raise ValueError("enter the path of a .vmlab file to import")
        name = self.clone_name_text.value.strip() or None
        vm = self.hv.import_vm(path, name=name)
        self.clone_name_text.value = ""
        self._refresh_lists()
        self.vm_dropdown.value = vm.name
        return f"imported VM {vm.name} from {path}: it is {vm.state}"

    # ---- compare ---------------------------------------------------------------------------------
    def _comparables(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for vm in self.hv.vms:
            out[f"VM {vm.name}"] = vm
            for snap in vm.snapshots:
                out[f"snapshot {vm.name}/{snap.name}"] = snap
        return out

    def compare(self) -> str:
        """Compare the two things chosen as A and B; overlay their charts if both are VMs."""
        a, b = self.compare_a.value, self.compare_b.value
        if a is None or b is None:
            raise ValueError("choose A and B to compare (VMs or snapshots)")
        cmp = compare(a, b)
        self.compare_html.value = cmp.to_html()
        shown = self._overlay
        if shown is None or shown[0] is not a or shown[1] is not b:
            for chart in self._overlays():
                chart.clear()
            self._overlay = (a, b, -1) if isinstance(a, VM) and isinstance(b, VM) else None
            self._overlay_held = {}
            self._update_overlay()
            for chart in self._overlays():
                chart.flush()
        # the same two again: their overlay goes on (new points come with the next refreshes)
        verdict = "identical" if cmp.same else "different"
        return f"compared {cmp.a} with {cmp.b}: {verdict} ({cmp.summary()})"

    def _update_overlay(self) -> None:
        """Points for the compared VMs' new samples (each side holds its last value between)."""
        if self._overlay is None or not self.charts_ready:
            return
        a, b, after = self._overlay
        if a.state == "deleted" or b.state == "deleted":
            self._overlay = None
            return
        labels = (f"A: {a.name}", f"B: {b.name}")
        for chart in self._overlays():
            for label in labels:
                chart.add_line(label)
        events: dict[int, dict[str, Any]] = {}
        for label, vm in zip(labels, (a, b), strict=True):
            for sample in self.hv.samples(vm, after=after):
                events.setdefault(sample.clock, {})[label] = sample
        for clock in sorted(events):
            self._overlay_held.update(events[clock])
            held = self._overlay_held
            x = clock / 1e6
            self.overlay_instructions.push(
                x, {k: v.instructions / 1e6 for k, v in held.items() if k in labels}
            )
            self.overlay_hypervisor.push(
                x, {k: v.hypervisor_cycles / 1e6 for k, v in held.items() if k in labels}
            )
        self._overlay = (a, b, max(events, default=after))

    # ---- refreshing --------------------------------------------------------------------------------
    def _on_runner(self, runner: Runner) -> None:
        if not runner.running and runner.error is not None:
            self.error = error_text(runner.error)
        self.refresh()
        if not runner.running:
            for chart in (*self.charts, *self._overlays()):
                chart.flush()  # the run ended: show every point now, not after the throttle

    def refresh(self) -> None:
        """Re-read the hypervisor: host line, VM rows, lists, console, new chart points."""
        if self.runner.later_if_busy(self.refresh):  # not while a slice runs: right after it
            return
        hv = self.hv
        m = hv.metrics()
        running = self.runner.state if self.runner.running else "not running"
        self.host_html.value = (
            f'<div style="{MONO}"><b>host</b> · memory {m.memory_used / 2**20:.1f} of '
            f"{m.memory_size / 2**20:.0f} MiB lent to VMs · {m.cpus} CPU{'s' if m.cpus > 1 else ''} · "
            f"clock {m.clock:,} cycles · "
            f"{m.vms} VMs, {m.vms_running} running · background run: {running}</div>"
        )
        self._status(self.message)
        self._refresh_rows()
        self._refresh_lists()
        self._refresh_selected()
        self._sample()
        self._update_overlay()
        if self.charts_ready:
            self._flush_in_turn()

    def _refresh_rows(self) -> None:
        vms = self.hv.vms
        if [r.vm for r in self.rows.values()] != vms:
            for name in [n for n, r in self.rows.items() if r.vm not in vms]:
                self.rows.pop(name).close()
            for vm in vms:
                if vm.name not in self.rows:
                    self.rows[vm.name] = VMRow(self, vm)
                    self._add_lines(vm.name)
            self.rows = {vm.name: self.rows[vm.name] for vm in vms}
            self.vm_list.children = tuple(self.rows.values()) or (
                widgets.HTML(f'<div style="{MONO}; color:#888">(no VMs yet: create one)</div>'),
            )
        for row in self.rows.values():
            row.refresh()

    def _add_lines(self, name: str) -> None:
        """A VM's lines on the per-VM charts (made once, when its row appears)."""
        if not self.charts_ready:
            return  # _build_charts adds them
        self.mips_chart.add_line(name)
        self.share_chart.add_line(name, group=name)
        self.share_chart.add_line(f"{name} entitled", group=name, dashed=True)
        self.memory_chart.add_line(name)

    def _refresh_lists(self) -> None:
        """VM and snapshot choices, rebuilt only when they change (so a choice is kept)."""
        names = tuple(vm.name for vm in self.hv.vms)
        if self._signatures.get("vms") != names:
            self._signatures["vms"] = names
            keep = self.vm_dropdown.value
            self.vm_dropdown.options = names
            self.vm_dropdown.value = keep if keep in names else (names[0] if names else None)
        things = self._comparables()
        sig = tuple((label, id(obj)) for label, obj in things.items())
        if self._signatures.get("compare") != sig:
            self._signatures["compare"] = sig
            options = list(things.items())
            for dropdown, default in ((self.compare_a, 0), (self.compare_b, 1)):
                keep = dropdown.value
                dropdown.options = options
                values = [obj for _, obj in options]
                if any(keep is v for v in values):
                    dropdown.value = keep
                else:
                    dropdown.value = values[min(default, len(values) - 1)] if values else None

    def _refresh_selected(self, force: bool = False) -> None:
        vm = self.selected
        if vm is None:
            self.console_html.value = console_html("", height="12em")
            self.snapshot_select.options = []
            return
        self.console_html.value = console_html(vm.console.output, height="12em")
        current = vm.current_snapshot
        rows: list[tuple[str, Any]] = [
            (
                f"{tree_indent(depth, '   ')}{s.name} "
                f"({'incremental' if s.incremental else 'full'}, {s.pages_stored} pages)"
                f"{'  ← current' if s is current else ''}",
                s,
            )
            for depth, s in walk_tree(vm)  # (iterative, indentation capped: any depth is fine)
        ]
        sig = (vm.name, tuple((label, id(s)) for label, s in rows))
        if force or self._signatures.get("snapshots") != sig:
            self._signatures["snapshots"] = sig
            keep = self.snapshot_select.value
            self.snapshot_select.options = rows
            values = [s for _, s in rows]
            if any(keep is v for v in values):
                self.snapshot_select.value = keep
            else:
                self.snapshot_select.value = current if current in values else None

    def _sample(self) -> None:
        """One new point on every live chart: what changed since the previous point."""
        if not self.charts_ready:
            return
        hv = self.hv
        host = hv.metrics()
        vms = {row["vm"]: row for row in hv.rows("vms")}
        now = {
            "clock": host.clock,
            "host": host,
            "vms": vms,
            "exits": {e.reason: e.count for e in host.exits},
        }
        last, self._last = self._last, now
        if last is None or host.clock <= last["clock"]:
            if last is not None and host.clock < last["clock"]:
                self._last = now  # a new host (cannot happen) or clock reset: start again
            return
        span = host.clock - last["clock"]
        x = host.clock / 1e6
        prev_host = last["host"]
        lived = max(1, host.cpu_cycles - prev_host.cpu_cycles)  # all CPUs (one: the span)
        self.overhead_chart.push(
            clock=x,
            guest=(host.guest_cycles - prev_host.guest_cycles) / lived,
            hypervisor=(host.hypervisor_cycles - prev_host.hypervisor_cycles) / lived,
            idle=(host.idle_cycles - prev_host.idle_cycles) / lived,
        )
        seconds = host.host_seconds - prev_host.host_seconds
        if seconds > 0:
            rates = {
                reason: (count - last["exits"].get(reason, 0)) / seconds
                for reason, count in now["exits"].items()
            }
            shown = self.exits_chart.lines
            self.exits_chart.push(x, {r: v for r, v in rates.items() if v > 0 or r in shown})
        mips: dict[str, float] = {}
        shares: dict[str, float] = {}
        memory: dict[str, float] = {}
        for name, row in vms.items():
            memory[name] = row["memory_used"] / 2**20
            before = last["vms"].get(name)
            if before is None:
                continue
            took = row["host_seconds"] - before["host_seconds"]
            ran = row["instructions"] - before["instructions"]
            if took > 0 and ran >= 0:
                mips[name] = ran / took / 1e6
            used = (row["guest_cycles"] + row["hypervisor_cycles"]) - (
                before["guest_cycles"] + before["hypervisor_cycles"]
            )
            if row["state"] == "running" or before["state"] == "running":
                shares[name] = max(0.0, used / span)
                shares[f"{name} entitled"] = row["entitlement"]
        if mips:
            self.mips_chart.push(x, mips)
        if shares:
            self.share_chart.push(x, shares)
        self.memory_chart.push(x, memory)

    def _flush_in_turn(self) -> None:
        """Send the newest points of the next CHARTS_PER_REFRESH charts that have some.

        Drawing every chart at once keeps the browser busy for a long frame, and a click made
        then waits; in turn, few charts per refresh (refreshes come a few times a second).
        """
        charts = (*self.charts, *self._overlays())
        sent = 0
        for _ in range(len(charts)):
            chart = charts[self._flush_next % len(charts)]
            self._flush_next += 1
            if chart.pending:
                chart.flush()
                sent += 1
                if sent == CHARTS_PER_REFRESH:
                    return

    def close(self) -> None:
        """Close the dashboard and stop listening to the runner."""
        if hasattr(self, "runner"):  # (not when __init__ failed early)
            self.runner.on_update(self._on_runner, remove=True)
        for chart in (*getattr(self, "charts", ()), *self._overlays()):
            chart.close()
        for row in getattr(self, "rows", {}).values():
            row.close()
        super().close()

    def _overlays(self) -> tuple[MultiLineChart, ...]:
        return tuple(
            c
            for c in (
                getattr(self, "overlay_instructions", None),
                getattr(self, "overlay_hypervisor", None),
            )
            if c is not None
        )


def lab(
    hv: Hypervisor | None = None, host_memory: int | str = "64M", cpus: int = 1, **kwargs: Any
) -> Dashboard:
    """The lab dashboard on ``hv`` (or on a new hypervisor with ``host_memory`` and ``cpus``)."""
    return Dashboard(hv, host_memory=host_memory, cpus=cpus, **kwargs)
