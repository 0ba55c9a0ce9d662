"""An interactive debugger widget for a bare-metal ``Machine`` (``machine.debugger()`` in Jupyter).

It shows, and keeps up to date: a status line (state, pc with symbol and file:line, counts, the
last result or error), the disassembly around the pc with source lines and breakpoints, the
registers (the ones the last action changed are highlighted), the CSRs, a hex view of memory at
an address, the breakpoints and the console. Its buttons step one instruction, step N, continue
(to a breakpoint or a stop; in the background when an event loop runs, so Pause works), pause,
reset, and add or remove breakpoints by address or symbol. Errors from the library (stepping a
stopped machine, an unknown symbol) appear as a message in the widget, never as a traceback.

Everything it reads goes through the Machine's public API. Drive it from code as a test or a
notebook would:

>>> from vmlab import Machine, assemble
>>> m = Machine(memory="64K")
>>> m.load(assemble("_start: li a0, 3\\nloop: addi a0, a0, -1\\n bnez a0, loop\\n halt"))
>>> dbg = Debugger(m)
>>> dbg.step_button.click(); dbg.changed_registers
('a0',)
>>> dbg.breakpoint_text.value = "loop"; dbg.add_breakpoint_button.click()
>>> dbg.continue_button.click(); dbg.last_reason
'breakpoint'
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Int, Tuple, Unicode, observe, validate

from ..asm import disassemble_word
from ..isa.arch import CAUSE_NAMES, CSR_NAMES, REG_ALIASES, REG_NAMES, STATUS_BITS
from ..machine import Machine, RunResult
from .runner import Runner, event_loop_running

__all__ = ["Debugger", "console_html", "describe_result", "parse_location"]

MONO = "font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.35;"
CHANGED = "background: #ffe08a;"
ERROR = "color: #b00020;"
CONSOLE_TAIL = 8_000  # characters of console output shown
SOURCE_WIDTH = 36  # characters of a source line shown beside its disassembly


def parse_location(machine: Machine, text: str, registers: bool = False) -> int:
    """An address from ``0x1010``, ``4112``, ``loop``, ``loop+8`` (or a register name)."""
    text = text.strip()
    if not text:
        raise ValueError("enter an address (e.g. 0x1000) or a symbol (e.g. loop)")
    try:
        return int(text, 0)
    except ValueError:
        pass
    if registers and text.lower() in REG_ALIASES:
        return machine.regs[text.lower()]
    name, plus, offset = text.partition("+")
    if plus:
        if machine.image is None:
            raise ValueError(f"no image is loaded, so symbol {name.strip()!r} is unknown")
        try:
            delta = int(offset.strip(), 0)
        except ValueError:
            raise ValueError(f"bad offset {offset.strip()!r} in {text!r}") from None
        return machine.image.symbol(name.strip()) + delta
    if machine.image is None:
        raise ValueError(f"no image is loaded, so symbol {text!r} is unknown")
    return machine.image.symbol(text)


def error_text(exc: BaseException) -> str:
    """A readable one-line message for an exception (no traceback)."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def describe_result(result: RunResult, total: int | None = None) -> str:
    """``ran 10 instructions`` or ``halt after 7 instructions, exit code 0: halt at ...``."""
    n = result.instructions if total is None else total
    what = f"{n:,} instruction{'' if n == 1 else 's'}"
    if result.reason == "budget":
        return f"ran {what}"
    text = f"{result.reason} after {what}"
    if result.exit_code is not None:
        text += f", exit code {result.exit_code}"
    return f"{text}: {result.message}" if result.message else text


def console_html(out: str, height: str = "16em") -> str:
    """Console text in a box that scrolls, opened at its newest line."""
    if len(out) > CONSOLE_TAIL:
        out = "…" + out[-CONSOLE_TAIL:]
    body = html.escape(out) if out else '<span style="color:#888">(no output yet)</span>'
    # column-reverse keeps the box scrolled to the bottom as output grows
    return (
        f'<div style="{MONO} max-height:{height}; overflow:auto; display:flex; '
        'flex-direction:column-reverse; background:#f7f7f7; padding:4px;">'
        f'<pre style="margin:0; flex-shrink:0; overflow:visible;">{body}</pre></div>'
    )


def _html(body: str, style: str = "") -> str:
    return f'<div style="{MONO}{style}">{body}</div>'


class Debugger(widgets.VBox):
    """Step, run to breakpoints and inspect a ``Machine``: an ipywidgets VBox.

    Parameters
    ----------
    machine : the machine to debug (load an image first).
    sources : source text of programs assembled from strings, by file name, or one text for all
        of them (files on disk are read by themselves), shown beside the disassembly.
    """

    step_count = Int(10, min=1, max=100_000_000, help="instructions the 'Step N' button runs")
    context = Int(6, min=1, max=64, help="disassembly lines shown before and after the pc")
    memory_address = Int(0, min=0, help="physical address at which the memory view starts")
    memory_rows = Int(8, min=1, max=64, help="rows of 16 bytes in the memory view")
    background = Bool(True, help="Continue runs in the background when an event loop runs")
    sync_limit = Int(
        50_000_000, min=1, help="most instructions a Continue runs without an event loop"
    )
    running = Bool(False, read_only=True, help="a background Continue is going on")
    error = Unicode("", help="the last error, as a readable message ('' after a success)")
    message = Unicode("", help="what the last action did (the run result's message)")
    last_reason = Unicode("", help="why the last run stopped: budget, breakpoint, halt, ...")
    changed_registers = Tuple(help="ABI names of the registers the last action changed")

    def __init__(
        self, machine: Machine, sources: Mapping[str, str] | str | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(machine, Machine):
            raise TypeError(f"Debugger needs a vmlab Machine, not {type(machine).__name__}")
        if sources is not None and not isinstance(sources, str | Mapping):
            raise TypeError(
                "sources must be the program's text (a str) or a dict of file name -> text, "
                f"not {type(sources).__name__}"
            )
        if isinstance(sources, Mapping):
            for file, text in sources.items():
                if not isinstance(text, str):
                    raise TypeError(
                        f"sources[{file!r}] must be the file's text (a str), "
                        f"not {type(text).__name__}"
                    )
        self.machine = machine
        self._sources = sources
        self._source_lines: dict[str, list[str] | None] = {}
        self._before: tuple[int, ...] = tuple(machine.regs)
        self.runner = Runner(machine)
        self.runner.on_update(self._on_runner)

        btn = widgets.Button
        self.step_button = btn(description="Step", tooltip="execute one instruction")
        self.step_n_button = btn(description="Step N", tooltip="execute N instructions")
        self.step_n_text = widgets.BoundedIntText(
            value=self.step_count, min=1, max=100_000_000, layout=widgets.Layout(width="110px")
        )
        self.continue_button = btn(
            description="Continue", button_style="success", tooltip="run to a breakpoint or a stop"
        )
        self.pause_button = btn(description="Pause", tooltip="stop a background run")
        self.reset_button = btn(description="Reset", button_style="warning", tooltip="power-cycle")
        self.breakpoint_text = widgets.Text(
            placeholder="loop, loop+8 or 0x1010", layout=widgets.Layout(width="180px")
        )
        wide = widgets.Layout(width="auto")
        self.add_breakpoint_button = btn(
            description="Add", tooltip="add a breakpoint at the address in the box", layout=wide
        )
        self.remove_breakpoint_button = btn(
            description="Remove",
            tooltip="remove the breakpoint at the address in the box",
            layout=wide,
        )
        self.memory_text = widgets.Text(
            placeholder="address, symbol or register", layout=widgets.Layout(width="180px")
        )
        self.memory_button = btn(description="Show memory", layout=wide)
        self.console_text = widgets.Text(
            placeholder="type input for the guest", layout=widgets.Layout(width="240px")
        )
        self.console_button = btn(description="Send")

        self.status_html = widgets.HTML()
        self.disassembly_html = widgets.HTML()
        self.registers_html = widgets.HTML()
        self.csr_html = widgets.HTML()
        self.memory_html = widgets.HTML()
        self.breakpoints_html = widgets.HTML()
        self.console_html = widgets.HTML()

        widgets.link((self, "step_count"), (self.step_n_text, "value"))
        self.step_button.on_click(lambda _: self._guard(self.step, 1))
        self.step_n_button.on_click(lambda _: self._guard(self.step, self.step_count))
        self.continue_button.on_click(lambda _: self._guard(self.continue_))
        self.pause_button.on_click(lambda _: self._guard(self.pause))
        self.reset_button.on_click(lambda _: self._guard(self.reset))
        self.add_breakpoint_button.on_click(
            lambda _: self._guard(self.add_breakpoint, self.breakpoint_text.value)
        )
        self.remove_breakpoint_button.on_click(
            lambda _: self._guard(self.remove_breakpoint, self.breakpoint_text.value)
        )
        self.memory_button.on_click(lambda _: self._guard(self.show_memory, self.memory_text.value))
        self.console_button.on_click(lambda _: self._guard(self.feed, self.console_text.value))

        def box(title: str, *children: widgets.Widget, grow: bool = False) -> widgets.VBox:
            flex = "1 1 auto" if grow else "0 0 auto"
            return widgets.VBox(
                [widgets.HTML(f"<b>{title}</b>"), *children],
                layout=widgets.Layout(
                    margin="0 16px 0 0", flex=flex, min_width="0", overflow="auto"
                ),
            )

        toolbar = widgets.HBox(
            [
                self.step_button,
                self.step_n_button,
                self.step_n_text,
                self.continue_button,
                self.pause_button,
                self.reset_button,
            ]
        )
        views = widgets.HBox(
            [
                box("Disassembly", self.disassembly_html, grow=True),
                box("Registers", self.registers_html, self.csr_html),
            ]
        )
        breakpoints = box(
            "Breakpoints",
            widgets.HBox(
                [self.breakpoint_text, self.add_breakpoint_button, self.remove_breakpoint_button]
            ),
            self.breakpoints_html,
            grow=True,
        )
        memory = box(
            "Memory (physical)",
            widgets.HBox([self.memory_text, self.memory_button]),
            self.memory_html,
        )
        console = box(
            "Console", self.console_html, widgets.HBox([self.console_text, self.console_button])
        )
        super().__init__(
            [self.status_html, toolbar, views, widgets.HBox([memory, breakpoints]), console],
            **kwargs,
        )
        if machine.image is not None and self.memory_address == 0:
            self.memory_address = machine.image.entry & ~0xF
        self.refresh()

    # ---- actions (each raises on error; the buttons show errors instead) --------------------
    def _guard(self, action: Callable[..., Any], *args: Any) -> None:
        """Run a button's action; show any error as a message instead of a traceback."""
        try:
            action(*args)
        except Exception as exc:
            self.error = error_text(exc)
            self.refresh()

    def _begin(self) -> None:
        self._before = tuple(self.machine.regs)
        self.error = ""

    def _finish(self, result: RunResult | None, total: int | None = None) -> None:
        if result is not None:
            self.last_reason = result.reason
            self.message = describe_result(result, total)
        now = tuple(self.machine.regs)
        self.changed_registers = tuple(REG_NAMES[i] for i in range(16) if now[i] != self._before[i])
        self.refresh()

    def _check_idle(self, what: str) -> None:
        if self.runner.running:
            raise RuntimeError(f"cannot {what} while the machine runs: press Pause first")

    def step(self, count: int = 1) -> RunResult:
        """Execute ``count`` instructions (stopping early at a breakpoint or a stop)."""
        self._check_idle("step")
        self._begin()
        result = self.machine.step(count)
        self._finish(result)
        return result

    def continue_(self) -> None:
        """Run to a breakpoint or a stop: in the background if an event loop runs, else at once."""
        self._check_idle("continue")
        self._begin()
        if self.machine.image is None or self.machine.state != "ready":
            self.machine.run(max_instructions=0)  # raises the library's own clear error
        if self.background and event_loop_running():
            self.runner.max_instructions = None
            self.runner.start()
            self.set_trait("running", True)
            self.refresh()
            return
        self.runner.max_instructions = self.sync_limit
        sl = self.runner.run()
        if sl.result is not None and sl.result.reason == "budget":
            self.message = (
                f"paused after {self.runner.run_instructions:,} instructions "
                "(no event loop for a background run; Continue goes on)"
            )
            self.last_reason = "budget"
            self._finish(None)

    def pause(self) -> None:
        """Stop a background run after its current slice."""
        self.runner.pause()

    async def wait(self, timeout: float | None = None) -> str:
        """Wait until a background Continue ends; returns why the run stopped."""
        await self.runner.wait(timeout)
        return self.last_reason

    def reset(self) -> None:
        """Power-cycle the machine (registers, devices, RAM reloaded from the image)."""
        self._check_idle("reset")
        self._begin()
        self.machine.reset()
        self.last_reason = ""
        self.message = "reset: the program starts again"
        self._finish(None)

    def add_breakpoint(self, where: int | str) -> int:
        """Add a breakpoint at an address or symbol (text like ``loop+8`` is parsed)."""
        addr = self._address(where)

        def add() -> None:
            self.machine.add_breakpoint(addr)
            self.error = ""
            self.message = f"breakpoint at {self.machine.describe_address(addr)}"
            self.refresh()

        self._between_slices(add)
        return addr

    def remove_breakpoint(self, where: int | str) -> None:
        """Remove the breakpoint at an address or symbol."""
        addr = self._address(where)

        def remove() -> None:
            self.machine.remove_breakpoint(addr)
            self.error = ""
            self.message = f"breakpoint at {addr:#010x} removed"
            self.refresh()

        self._between_slices(remove)

    def _address(self, where: int | str) -> int:
        """An address from an int, or from text: a number, a symbol or ``symbol+offset``."""
        return parse_location(self.machine, where) if isinstance(where, str) else int(where)

    def _between_slices(self, action: Callable[[], Any]) -> bool:
        """Run an action that changes the machine now, or after the slice in flight (True: now).

        Run now, its errors propagate to the caller; run later, they are shown in the widget.
        """
        if self.runner.busy:
            self.runner.do(lambda: self._guard(action))
            return False
        action()
        return True

    def show_memory(self, where: int | str) -> None:
        """Point the memory view at an address, symbol or register (e.g. ``sp``)."""
        addr = (
            parse_location(self.machine, where, registers=True) if isinstance(where, str) else where
        )
        if not 0 <= addr < self.machine.memory_size:
            raise ValueError(
                f"address {addr:#x} is outside RAM (0..{self.machine.memory_size - 1:#x})"
            )
        self.memory_address = addr & ~0xF
        self.error = ""

    def feed(self, text: str) -> None:
        """Type ``text`` (plus a newline) into the guest's console input."""
        if not isinstance(text, str):
            raise TypeError(f"feed() takes the text to type (a str), not {type(text).__name__}")

        def feed() -> None:
            self.machine.console.feed(text + "\n")
            self.error = ""
            self.refresh()

        self._between_slices(feed)
        self.console_text.value = ""

    # ---- background runs -------------------------------------------------------------------
    def _on_runner(self, runner: Runner) -> None:
        """Runner listener: refresh while running; take the result when the run ends."""
        if runner.running and runner.state == "running":
            self.refresh()
            return
        self.set_trait("running", False)
        if runner.error is not None:
            self.error = error_text(runner.error)
        last = runner.last
        self._finish(last.result if last is not None else None, runner.run_instructions)

    @observe("memory_address", "memory_rows", "context")
    def _view_changed(self, _change: Any) -> None:
        if hasattr(self, "memory_html"):  # not while __init__ builds the views
            self.refresh()

    @validate("memory_address")
    def _valid_address(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value >= 1 << 32:
            raise ValueError(f"memory_address {value:#x} is beyond the 32-bit address space")
        return value

    # ---- rendering -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-render every view from the machine (call it after changing the machine in code)."""
        if self.runner.later_if_busy(self.refresh):  # not while a slice runs: right after it
            return
        self.status_html.value = self._render_status()
        self.disassembly_html.value = self._render_disassembly()
        self.registers_html.value = self._render_registers()
        self.csr_html.value = self._render_csrs()
        self.memory_html.value = self._render_memory()
        self.breakpoints_html.value = self._render_breakpoints()
        self.console_html.value = self._render_console()
        running = self.running
        for button in (
            self.step_button,
            self.step_n_button,
            self.continue_button,
            self.reset_button,
        ):
            button.disabled = running
        self.pause_button.disabled = not running

    def _render_status(self) -> str:
        m = self.machine
        state = "running…" if self.running else m.state
        if not self.running and m.state == "ready" and self.last_reason in ("breakpoint", "idle"):
            state = f"ready (stopped at a {self.last_reason})"
        if m.image is None:
            where = "no program loaded"
        else:
            where = f"pc {html.escape(m.describe_address(m.pc))}"
        line = (
            f"<b>{html.escape(state)}</b> · {where} · {m.instructions:,} instructions · "
            f"{m.cycles:,} cycles"
        )
        parts = [line]
        if self.message:
            parts.append(html.escape(self.message))
        if self.error:
            parts.append(f'<span style="{ERROR}">⚠ {html.escape(self.error)}</span>')
        return _html("<br>".join(parts), "padding: 4px; border-bottom: 1px solid #ddd;")

    def _source_line(self, file: str, line: int) -> str | None:
        lines = self._source_lines.get(file, ())
        if lines == ():
            text = None
            if isinstance(self._sources, Mapping):
                text = self._sources.get(file)
            elif isinstance(self._sources, str):
                text = self._sources
            if text is None:
                try:
                    path = Path(file)
                    if path.is_file() and path.stat().st_size < 4_000_000:
                        text = path.read_text(errors="replace")
                except OSError:
                    text = None
            lines = self._source_lines[file] = None if text is None else text.splitlines()
        if not lines or not 1 <= line <= len(lines):
            return None
        text = lines[line - 1].split("#", 1)[0].strip()  # the code, without its comment
        return text if len(text) <= SOURCE_WIDTH else text[: SOURCE_WIDTH - 1] + "…"

    def _render_disassembly(self) -> str:
        m = self.machine
        if m.image is None:
            return _html("(no program loaded)")
        labels: dict[int, list[str]] = {}
        for name, value in m.image.labels.items():
            labels.setdefault(value, []).append(name)
        bps = set(m.breakpoints)
        pc = m.pc
        rows = []
        for i in range(-self.context, self.context + 1):
            va = pc + 4 * i
            if va < 0 or va >= 1 << 32:
                continue
            for name in sorted(labels.get(va, ())):
                rows.append(
                    f'<tr><td colspan="5" style="color:#555">{html.escape(name)}:</td></tr>'
                )
            try:
                pa = m.translate(va)
                word = m.read_word(pa)
                text = disassemble_word(word, pc=va)
                hexword = f"{word:08x}"
            except (ValueError, IndexError):
                pa, text, hexword = -1, "(not mapped or outside RAM)", ""
            mark = "▶" if va == pc else ""
            bp = '<span style="color:#d62728">●</span>' if pa in bps else ""
            loc = m.image.source_map.get(va)
            src = ""
            if loc is not None:
                line_text = self._source_line(loc[0], loc[1])
                src = f"{Path(loc[0]).name}:{loc[1]}"
                if line_text:
                    src += f"  {line_text}"
            style = "background:#e8f0fe; font-weight:bold;" if va == pc else ""
            rows.append(
                f'<tr style="{style}"><td>{mark}{bp}</td><td>{va:08x}</td><td>{hexword}</td>'
                f"<td>{html.escape(text)}</td>"
                f'<td style="color:#555"># {html.escape(src)}</td></tr>'
                if src
                else f'<tr style="{style}"><td>{mark}{bp}</td><td>{va:08x}</td><td>{hexword}</td>'
                f"<td>{html.escape(text)}</td><td></td></tr>"
            )
        table = (
            '<table style="border-collapse:separate; border-spacing:6px 0; white-space:pre;">'
            + "".join(rows)
        )
        return _html(table + "</table>")

    def _render_registers(self) -> str:
        regs = list(self.machine.regs)
        changed = set(self.changed_registers)
        cells = []
        for i, name in enumerate(REG_NAMES):
            cls = ' class="vmlab-changed"' if name in changed else ""
            style = CHANGED if name in changed else ""
            value = regs[i]
            signed = value - (1 << 32) if value & 0x80000000 else value
            cells.append(
                f'<td{cls} style="{style} padding: 1px 6px;" title="{signed}">'
                f"<b>{name:>4}</b> {value:08x}</td>"
            )
        rows = "".join("<tr>" + "".join(cells[i : i + 4]) + "</tr>" for i in range(0, 16, 4))
        pc = f'<tr><td style="padding: 1px 6px;"><b>{"pc":>4}</b> {self.machine.pc:08x}</td></tr>'
        return _html(f'<table style="white-space:pre;">{rows}{pc}</table>')

    def _render_csrs(self) -> str:
        m = self.machine
        cells = []
        for num in sorted(CSR_NAMES):
            name = CSR_NAMES[num]
            if name in ("cycleh", "instreth", "timecmph"):
                continue  # shown with their low halves as 64-bit values
            value = m.csr(name)
            note = ""
            if name == "status":
                note = " " + " ".join(bit for bit, mask in STATUS_BITS if value & mask)
            elif name == "cause" and value in CAUSE_NAMES:
                note = f" {CAUSE_NAMES[value]}"
            elif name == "timecmp":
                value = m.csr("timecmph") << 32 | value
            shown = f"{value:,}" if name in ("cycle", "instret") else f"{value:08x}"
            cells.append(
                f'<tr><td style="padding: 0 6px;"><b>{name}</b></td>'
                f"<td>{shown}{html.escape(note)}</td></tr>"
            )
        return _html(f'<table style="white-space:pre;">{"".join(cells)}</table>')

    def _render_memory(self) -> str:
        m = self.machine
        start = self.memory_address
        n = min(16 * self.memory_rows, max(0, m.memory_size - start))
        if n == 0:
            return _html(f"address {start:#x} is outside RAM ({m.memory_size:#x} bytes)", ERROR)
        data = m.read(start, n)
        lines = []
        for off in range(0, n, 16):
            chunk = data[off : off + 16]
            hexpart = " ".join(f"{b:02x}" for b in chunk)
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
            lines.append(f"{start + off:08x}  {hexpart:<47}  {html.escape(text)}")
        return _html("<pre style='margin:0; white-space:pre;'>" + "\n".join(lines) + "</pre>")

    def _render_breakpoints(self) -> str:
        m = self.machine
        if not m.breakpoints:
            return _html("(none)", "color:#555;")
        items = "".join(f"<li>{html.escape(m.describe_address(a))}</li>" for a in m.breakpoints)
        return _html(f"<ul style='margin:0'>{items}</ul>")

    def _render_console(self) -> str:
        return console_html(self.machine.console.output)
