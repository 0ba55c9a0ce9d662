"""A widget for one virtual machine (``vm.widget()`` in Jupyter): lifecycle, console, live charts.

It shows the VM's name, technique and state; buttons for start, pause, resume, stop and reset,
each enabled only in the states where the VM allows it (``LEGAL``, as documented in
``vmlab/hypervisor/vm.py``); its console output; its counters; and two live charts:

- **guest MIPS**: guest instructions per second of host wall-clock time the host spent on this VM
  (measured, so noisy; a technique with many exits handled in Python is visibly slower);
- **share of the host CPU**: from ``hv.samples(vm)``, for each interval between two of the VM's
  samples, the fraction of host cycles spent running the guest's instructions and the fraction
  the hypervisor spent working for it (exits, world switches), stacked.

Start and resume also set the hypervisor running in the background (one shared ``Runner`` per
hypervisor, so several VM widgets on one host run together); it stops by itself when no VM can
run. Errors from the library appear as a message in the widget, never as a traceback.

>>> from vmlab import Hypervisor, images
>>> hv = Hypervisor(host_memory="8M")
>>> w = VMWidget(hv.create_vm("demo", images.load("hello"), memory="1M"))
>>> w.state, w.start_button.disabled, w.resume_button.disabled
('created', False, True)
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Unicode

from ..hypervisor import VM
from .base import ACTIONS, LEGAL, STATE_COLORS, lifecycle_buttons
from .charts import LiveChart, line_chart, stacked_area_chart
from .debugger import MONO, console_html, error_text
from .runner import Runner, runner_for

__all__ = ["ACTIONS", "LEGAL", "VMWidget"]


@dataclass(frozen=True)
class _Point:
    """Where a chart interval starts: host clock and the VM's cycle counters then."""

    clock: int
    guest_cycles: int
    hypervisor_cycles: int


class VMWidget(widgets.VBox):
    """Lifecycle buttons, console and live charts of one ``VM``: an ipywidgets VBox.

    Parameters
    ----------
    vm : the VM (from ``hv.create_vm``).
    autorun : start and resume also run the hypervisor in the background (when an event loop
        runs, as in Jupyter); without it, run ``vm.hv.run(...)`` yourself and call ``refresh()``.
    runner : the Runner that advances the hypervisor (default: the hypervisor's shared one).
    """

    state = Unicode("", read_only=True, help="the VM's state when the widget last looked")
    error = Unicode("", help="the last error, as a readable message ('' after a success)")
    autorun = Bool(True, help="start/resume run the hypervisor in the background")

    def __init__(
        self, vm: VM, autorun: bool = True, runner: Runner | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(vm, VM):
            raise TypeError(f"VMWidget needs a vmlab VM, not {type(vm).__name__}")
        self.vm = vm
        self.hv = vm.hv
        self.runner = runner if runner is not None else runner_for(self.hv)
        self._seen_clock = -1  # clock of the newest hv.history sample already charted
        self._prev_sample: Any = None  # the point the next chart interval starts from
        self._mips_mark = (vm.stats.instructions, vm.stats.host_seconds)

        self.buttons = lifecycle_buttons(
            ACTIONS, LEGAL, lambda action: self._guard(self.request, action), width="90px"
        )
        self.start_button = self.buttons["start"]
        self.pause_button = self.buttons["pause"]
        self.resume_button = self.buttons["resume"]
        self.stop_button = self.buttons["stop"]
        self.reset_button = self.buttons["reset"]

        self.header_html = widgets.HTML()
        self.stats_html = widgets.HTML()
        self.console_html = widgets.HTML()
        self.status_html = widgets.HTML()
        self.mips_chart: LiveChart = line_chart(
            "clock",
            ["mips"],
            labels=["guest MIPS"],
            title="Guest speed (host wall clock)",
            x_label="host clock (million cycles)",
            y_label="MIPS",
            height=200,
            width=460,
            y_start=0,
        )
        self.cpu_chart: LiveChart = stacked_area_chart(
            "clock",
            ["guest", "hypervisor"],
            labels=["guest", "hypervisor"],
            title="Share of the host CPU",
            x_label="host clock (million cycles)",
            y_label="fraction of host cycles",
            height=200,
            width=460,
            y_start=0,
        )
        super().__init__(
            [
                self.header_html,
                widgets.HBox(list(self.buttons.values())),
                self.status_html,
                self.stats_html,
                self.console_html,
                widgets.HBox([self.mips_chart, self.cpu_chart]),
            ],
            **kwargs,
        )
        self.autorun = autorun
        self.runner.on_update(self._on_runner)
        self._take_history()  # what happened before the widget was made is not charted
        self._mark()
        self.refresh()

    # ---- lifecycle -----------------------------------------------------------------------------
    def _guard(self, action: Any, *args: Any) -> None:
        """Run a button's action; show any error as a message instead of a traceback."""
        try:
            action(*args)
        except Exception as exc:
            self.error = error_text(exc)
            self.refresh()

    def legal(self, action: str) -> bool:
        """Whether ``action`` is legal in the VM's current state."""
        if action not in LEGAL:
            raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
        return self.vm.state in LEGAL[action]

    def request(self, action: str) -> None:
        """Ask the VM for a lifecycle action (between slices if the hypervisor is running)."""
        if action not in LEGAL:
            raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
        method = getattr(self.vm, action)
        done: list[bool] = []

        def act() -> None:
            try:
                method()
            except Exception as exc:
                self.error = error_text(exc)
            else:
                self.error = ""
                done.append(True)
                if action == "start":
                    self._mark()
            self.refresh()

        if self.runner.do(act) and not done:
            return  # it failed; the message is shown
        if action in ("start", "resume") and self.autorun:
            self.runner.start_if_possible()

    def start(self) -> None:
        """Press Start."""
        self.request("start")

    def pause(self) -> None:
        """Press Pause."""
        self.request("pause")

    def resume(self) -> None:
        """Press Resume."""
        self.request("resume")

    def stop(self) -> None:
        """Press Stop."""
        self.request("stop")

    def reset(self) -> None:
        """Press Reset."""
        self.request("reset")

    async def wait(self, timeout: float | None = None) -> str:
        """Wait until the hypervisor's background run ends (e.g. the VM stopped); the VM's state."""
        await self.runner.wait(timeout)
        return self.vm.state

    def _on_runner(self, runner: Runner) -> None:
        if runner.running:
            self.refresh()
            return
        if runner.error is not None:
            self.error = error_text(runner.error)
        self.refresh()
        self.mips_chart.flush()  # the run ended: show every point now, not after the throttle
        self.cpu_chart.flush()

    def close(self) -> None:
        """Close the widget and stop listening to the runner."""
        self.runner.on_update(self._on_runner, remove=True)
        self.mips_chart.close()
        self.cpu_chart.close()
        super().close()

    # ---- views ---------------------------------------------------------------------------------
    def _mark(self) -> None:
        """Start the next chart interval now (when the widget is made and when the VM starts)."""
        s = self.vm.stats
        self._prev_sample = _Point(self.hv.clock, s.guest_cycles, s.hypervisor_cycles)

    def _take_history(self) -> list[Any]:
        """The VM's time-series samples not seen yet, oldest first (``hv.samples``)."""
        if self.vm.state == "deleted":  # its history went with it
            return []
        new = self.hv.samples(self.vm, after=self._seen_clock)
        if new:
            self._seen_clock = new[-1].clock
        return new

    def _update_charts(self) -> None:
        points: dict[str, list[float]] = {"clock": [], "guest": [], "hypervisor": []}
        for sample in self._take_history():
            prev = self._prev_sample
            self._prev_sample = sample
            if prev is None or sample.clock <= prev.clock:
                continue
            span = sample.clock - prev.clock
            points["clock"].append(sample.clock / 1e6)
            points["guest"].append((sample.guest_cycles - prev.guest_cycles) / span)
            points["hypervisor"].append((sample.hypervisor_cycles - prev.hypervisor_cycles) / span)
        if points["clock"]:
            self.cpu_chart.extend(points)
        instructions, seconds = self.vm.stats.instructions, self.vm.stats.host_seconds
        ran, took = instructions - self._mips_mark[0], seconds - self._mips_mark[1]
        if ran > 0 and took > 0:
            self.mips_chart.push(clock=self.hv.clock / 1e6, mips=ran / took / 1e6)
            self._mips_mark = (instructions, seconds)

    def refresh(self) -> None:
        """Re-read the VM: state, buttons, counters, console, new chart points."""
        if self.runner.later_if_busy(self.refresh):  # not while a slice runs: right after it
            return
        vm = self.vm
        state = vm.state
        self.set_trait("state", state)
        for action, button in self.buttons.items():
            button.disabled = state not in LEGAL[action]
        color = STATE_COLORS.get(state, "#000")
        self.header_html.value = (
            f'<div style="{MONO}"><b>VM {html.escape(vm.name)}</b> · {html.escape(vm.mode)} · '
            f"{vm.memory_size // 1024:,} KiB · "
            f'<span style="color:white; background:{color}; padding:1px 8px; '
            f'border-radius:8px">{state}</span></div>'
        )
        lines = []
        if vm.message:
            lines.append(html.escape(vm.message))
        if self.error:
            lines.append(f'<span style="color:#b00020">⚠ {html.escape(self.error)}</span>')
        self.status_html.value = f'<div style="{MONO}">{"<br>".join(lines)}</div>'
        s = vm.stats
        exits = sum(e.count for e in s.exits.values())
        self.stats_html.value = (
            f'<div style="{MONO}">{s.instructions:,} instructions · guest {s.guest_cycles:,} '
            f"cycles · hypervisor {s.hypervisor_cycles:,} cycles · {exits:,} exits · "
            f"host clock {self.hv.clock:,}</div>"
        )
        self.console_html.value = console_html("" if state == "deleted" else vm.console.output)
        if state != "deleted":
            self._update_charts()
