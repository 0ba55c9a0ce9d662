"""Compare two VMs or snapshots: configuration, vCPU, memory pages, devices, console and metrics.

``compare(a, b)`` takes any two of: a ``VM``, a ``Snapshot`` (``vm.snapshot(...)``), on the same
hypervisor or on different ones. Each side is first turned into a *view*, plain data about one
machine state (``View``), so a VM and a snapshot are compared the same way. The result is a
``Comparison``: ``print(cmp)`` gives readable text, a notebook shows it as an HTML table, and its
fields hold the differences for tests and widgets:

* ``config``: configuration values that differ (mode, memory, shares, reservation, limit, strict,
  exits path, disk size, image);
* ``registers``: vCPU registers that differ: ``r1``..``r15`` by ABI name, ``pc``, and both control
  register banks, ``guest.NAME`` (the guest's virtual CSRs) and ``host.NAME`` (the real ones while
  the guest runs);
* ``pages``: guest pages whose bytes differ, each with its first differing bytes and offsets;
* ``console``: console streams that differ (``output`` and pending ``input``), with their tails;
* ``devices``: device registers that differ (``console.ctrl``, ``disk.*``, ``power.exit_code``)
  and ``disk_sectors``, the disk sectors whose contents differ;
* ``status``: lifecycle differences (state, stop reason, exit code); informational;
* ``metrics``: accounting side by side (every row, equal or not): instructions, cycles, exits by
  kind, hypercalls, memory used. Informational.

``cmp.same`` is True when config, registers, pages, console and devices are all equal: the two
would run on identically. Status and metrics never make two states different (a clone continues
its source's accounting; a restored VM has the snapshot's), and the VM's name is not compared.

>>> from vmlab import Hypervisor, compare, images
>>> hv = Hypervisor(host_memory="16M")
>>> vm = hv.create_vm("a", images.load("fib", N=10), memory="64K")
>>> twin = hv.create_vm("b", images.load("fib", N=10), memory="64K")
>>> compare(vm, twin).same
True
>>> vm.start(); _ = hv.run(cycles=1_000_000)
>>> cmp = compare(vm, twin)
>>> cmp.same, cmp.console[0].stream, [d.name for d in cmp.status]
(False, 'output', ['state', 'stop_reason', 'exit_code'])
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .core.layout import (
    DEV_CON_CTRL,
    DEV_DSK_ADDR,
    DEV_DSK_CTRL,
    DEV_DSK_SECTOR,
    DEV_DSK_STATUS,
    DEV_PWR_EXIT_CODE,
    EXIT_NAMES,
    ST_CSR,
    ST_GCSR,
    ST_PC,
)
from .devices.memmap import SECTOR_SIZE
from .image import Image
from .isa.arch import CSR_NAMES, PAGE_SIZE, REG_NAMES
from .units import format_size

if TYPE_CHECKING:
    from .hypervisor.snapshot import Snapshot
    from .hypervisor.vm import VM

__all__ = [
    "Comparison",
    "ConsoleDifference",
    "Difference",
    "Metric",
    "PageDifference",
    "View",
    "compare",
    "view_of",
]

WORDS = PAGE_SIZE // 4
FIRST_BYTES = 8  # differing bytes listed per page
TAIL = 80  # console bytes shown from the end of each stream
CHUNK_PAGES = 2048  # guest pages compared at a time (bounds the memory compare uses)
SHOW = 20  # rows of a long list shown in text and HTML (the fields hold all of them)
NEVER_FIRES = 1 << 62  # a timecmp at or above this never fires (the reset value)

DEVICE_REGISTERS: dict[str, int] = {
    "console.ctrl": DEV_CON_CTRL,
    "disk.sector": DEV_DSK_SECTOR,
    "disk.addr": DEV_DSK_ADDR,
    "disk.status": DEV_DSK_STATUS,
    "disk.ctrl": DEV_DSK_CTRL,
    "power.exit_code": DEV_PWR_EXIT_CODE,
}


# ---- the result ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One named value and what each side holds."""

    name: str
    a: Any
    b: Any


@dataclass(frozen=True)
class PageDifference:
    """A guest page whose bytes differ: how many, and the first few as (offset, a byte, b byte)."""

    gfn: int
    differing: int
    first: tuple[tuple[int, int, int], ...]

    @property
    def addr(self) -> int:
        """Guest-physical address of the page."""
        return self.gfn * PAGE_SIZE


@dataclass(frozen=True)
class ConsoleDifference:
    """A console stream that differs: where the two first differ, their lengths and their tails."""

    stream: str  # "output" (what the guest printed) or "input" (fed, not yet read)
    common: int  # length of the common prefix: the streams differ from this byte on
    a_len: int
    b_len: int
    a_tail: bytes  # the last TAIL bytes of each stream
    b_tail: bytes


@dataclass(frozen=True)
class Metric:
    """One accounting figure side by side."""

    name: str
    a: int
    b: int

    @property
    def delta(self) -> int:
        """b - a."""
        return self.b - self.a


@dataclass
class Comparison:
    """The differences between two machine states (see the module docstring for each field)."""

    a: str  # what was compared, e.g. "VM 'web-1'" or "snapshot 'boot' of VM 'web-1'"
    b: str
    config: list[Difference] = field(default_factory=list)
    status: list[Difference] = field(default_factory=list)
    registers: list[Difference] = field(default_factory=list)
    pages: list[PageDifference] = field(default_factory=list)
    pages_compared: int = 0
    console: list[ConsoleDifference] = field(default_factory=list)
    devices: list[Difference] = field(default_factory=list)
    disk_sectors: list[int] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when configuration, registers, memory, console and devices are all equal."""
        return not (
            self.config
            or self.registers
            or self.pages
            or self.console
            or self.devices
            or self.disk_sectors
        )

    def counts(self) -> dict[str, int]:
        """How many differences each section holds (the sections that decide ``same``).

        ``devices`` counts device registers, ``disk_sectors`` the disk sectors that differ.
        """
        return {
            "config": len(self.config),
            "registers": len(self.registers),
            "pages": len(self.pages),
            "console": len(self.console),
            "devices": len(self.devices),
            "disk_sectors": len(self.disk_sectors),
        }

    def summary(self) -> str:
        """One line: what was compared and whether (where) it differs."""
        if self.same:
            return f"{self.a} and {self.b}: same state"
        nouns = {
            "config": "config setting",
            "registers": "register",
            "pages": "page",
            "console": "console stream",
            "devices": "device value",
            "disk_sectors": "disk sector",
        }
        parts = [f"{n} {nouns[k]}{'' if n == 1 else 's'}" for k, n in self.counts().items() if n]
        return f"{self.a} and {self.b} differ: " + ", ".join(parts)

    def __repr__(self) -> str:
        """A one-line summary."""
        return f"<Comparison {self.summary()}>"

    def __str__(self) -> str:
        """Readable text: each section and its differences, then the metrics side by side."""
        return "\n".join(_text_lines(self))

    def to_html(self) -> str:
        """An HTML table of every section (differences highlighted), for notebooks and widgets."""
        return _html(self)

    def _repr_html_(self) -> str:
        """The HTML table (``to_html``), shown by Jupyter."""
        return _html(self)


# ---- views: what compare reads from a VM or a snapshot -------------------------------------------
@dataclass
class View:
    """One machine state as plain data, the common ground of VMs and snapshots."""

    label: str
    config: dict[str, Any]
    status: dict[str, Any]
    regs: np.ndarray  # 16 general registers
    st: np.ndarray  # the core's state array (pc, CSR banks, device registers)
    pages: int  # guest pages
    page_rows: Callable[[int, int], np.ndarray]  # (lo, hi) -> rows of WORDS uint32 words
    console_output: bytes
    console_input: bytes
    disk: np.ndarray | None
    metrics: dict[str, int]


def _image_id(image: Image) -> str:
    """A short identity of an image: entry point, bytes loaded and a CRC of what is loaded."""
    crc = zlib.crc32(image.entry.to_bytes(4, "little"))
    size = 0
    for seg in image.segments:
        crc = zlib.crc32(seg.addr.to_bytes(4, "little") + seg.data, crc)
        size += len(seg.data)
    return f"entry {image.entry:#x}, {size} bytes, crc {crc:#010x}"


_BASE_METRICS = (
    "instructions",
    "guest cycles",
    "hypervisor cycles",
    "consumed cycles",
    "idle cycles",
    "slices",
    "exits",
    "translated pages",
)
_EXIT_ORDER = {name: i for i, name in enumerate(EXIT_NAMES.values())}


def _metric_order(name: str) -> tuple[int, int, str]:
    """Sort key of a metric row: totals, exits by kind, hypercalls, then memory."""
    if name in _BASE_METRICS:
        return (0, _BASE_METRICS.index(name), "")
    kind, _, what = name.partition(": ")
    if kind == "exits":
        return (1, _EXIT_ORDER.get(what, len(_EXIT_ORDER)), what)
    if kind == "hypercalls":
        return (2, 0, what)
    return (3, 0, name)


def _metrics(stats: Any, memory_used: int) -> dict[str, int]:
    """Accounting figures from a ``VMStats`` (exits and hypercalls by kind)."""
    out = {
        "instructions": int(stats.instructions),
        "guest cycles": int(stats.guest_cycles),
        "hypervisor cycles": int(stats.hypervisor_cycles),
        "consumed cycles": int(stats.consumed_cycles),
        "idle cycles": int(stats.idle_cycles),
        "slices": int(stats.slices),
        "exits": sum(int(e.count) for e in stats.exits.values()),
        "translated pages": int(stats.translated_pages),
    }
    for name, stat in stats.exits.items():
        out[f"exits: {name}"] = int(stat.count)
    for name, count in stats.hypercalls.items():
        out[f"hypercalls: {name}"] = int(count)
    out["memory used"] = int(memory_used)
    return out


def _vm_view(vm: VM) -> View:
    """The view of a live VM (its memory read from the host frames it maps)."""
    if vm.state == "deleted":
        raise ValueError(f"VM {vm.name!r} was deleted: there is no state left to compare")
    rows = vm.hv.memory.mem.reshape(-1, WORDS)
    frames = vm.frames.copy()
    disk = None if vm.disk is None else np.asarray(vm.disk.data)
    return View(
        label=f"VM {vm.name!r}",
        config={
            "mode": vm.mode,
            "memory": vm.memory_size,
            "shares": vm.shares,
            "reservation": vm.reservation,
            "limit": vm.limit,
            "strict": vm.strict,
            "exits": vm.exits_path,
            "disk": None if disk is None else len(disk),
            "image": _image_id(vm.image),
        },
        status={"state": vm.state, "stop_reason": vm.stop_reason, "exit_code": vm.exit_code},
        regs=vm.cpu.regs.copy(),
        st=vm.cpu.st.copy(),
        pages=len(frames),
        page_rows=lambda lo, hi: rows[frames[lo:hi]],
        console_output=vm.console.output_bytes,
        console_input=vm.console.pending_input,
        disk=disk,
        metrics=_metrics(vm.stats, vm.memory_used),
    )


def _snapshot_view(snap: Snapshot) -> View:
    """The view of a snapshot (its memory rebuilt from its chain of stored pages)."""
    if snap.deleted:
        raise ValueError(f"snapshot {snap.name!r} of VM {snap.vm.name!r} was deleted")
    state = snap.state
    cfg = state.config
    chain = snap.chain()
    pages = int(cfg["memory"]) // PAGE_SIZE

    def page_rows(lo: int, hi: int) -> np.ndarray:
        out = np.zeros((hi - lo, WORDS), dtype=np.uint32)  # pages no snapshot stores are zero
        for s in chain:
            inside = (s.gfns >= lo) & (s.gfns < hi)
            out[s.gfns[inside] - lo] = s.data[inside]
        return out

    return View(
        label=f"snapshot {snap.name!r} of VM {snap.vm.name!r}",
        config={
            "mode": cfg["mode"],
            "memory": int(cfg["memory"]),
            "shares": cfg["shares"],
            "reservation": cfg["reservation"],
            "limit": cfg["limit"],
            "strict": cfg["strict"],
            "exits": cfg["exits"],
            "disk": None if state.disk is None else len(state.disk),
            "image": _image_id(state.image),
        },
        status={
            "state": state.lifecycle,
            "stop_reason": state.stop_reason,
            "exit_code": state.exit_code,
        },
        regs=np.asarray(state.regs).copy(),
        st=np.asarray(state.st).copy(),
        pages=pages,
        page_rows=page_rows,
        console_output=bytes(state.console["output"]),
        console_input=bytes(state.console["input"]),
        disk=state.disk,
        metrics=_metrics(state.stats, sum(s.size_bytes for s in chain)),
    )


def view_of(obj: Any) -> View:
    """The ``View`` of a VM or a snapshot; TypeError for anything else."""
    from .hypervisor.snapshot import Snapshot
    from .hypervisor.vm import VM

    if isinstance(obj, View):
        return obj
    if isinstance(obj, VM):
        return _vm_view(obj)
    if isinstance(obj, Snapshot):
        return _snapshot_view(obj)
    raise TypeError(
        f"compare() takes VMs and snapshots (vm.snapshot(...)), not {type(obj).__name__}"
    )


# ---- comparing ---------------------------------------------------------------------------------
def _register_values(v: View) -> dict[str, int]:
    """Every register by name: r1..r15, pc, then the guest and host CSR banks."""
    out = {name: int(v.regs[i]) & 0xFFFFFFFF for i, name in enumerate(REG_NAMES) if i}
    out["pc"] = int(v.st[ST_PC])
    for bank, base in (("guest", ST_GCSR), ("host", ST_CSR)):
        for num, name in CSR_NAMES.items():
            out[f"{bank}.{name}"] = int(v.st[base + num])
    return out


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """The keys whose values differ, in a's order (then b's extra keys)."""
    keys = list(a) + [k for k in b if k not in a]
    return [Difference(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def _compare_pages(a: View, b: View) -> tuple[list[PageDifference], int]:
    """Pages (of those both have) whose bytes differ, and how many pages were compared."""
    n = min(a.pages, b.pages)
    out: list[PageDifference] = []
    for lo in range(0, n, CHUNK_PAGES):
        hi = min(n, lo + CHUNK_PAGES)
        pa, pb = a.page_rows(lo, hi), b.page_rows(lo, hi)
        for r in np.flatnonzero((pa != pb).any(axis=1)).tolist():
            ba = pa[r].astype("<u4").view(np.uint8)
            bb = pb[r].astype("<u4").view(np.uint8)
            offs = np.flatnonzero(ba != bb)
            first = tuple((int(o), int(ba[o]), int(bb[o])) for o in offs[:FIRST_BYTES])
            out.append(PageDifference(lo + r, len(offs), first))
    return out, n


def _compare_stream(stream: str, a: bytes, b: bytes) -> ConsoleDifference | None:
    """How two byte streams differ (None if equal)."""
    if a == b:
        return None
    limit = min(len(a), len(b))
    differ = np.frombuffer(a, np.uint8, limit) != np.frombuffer(b, np.uint8, limit)
    common = int(np.argmax(differ)) if differ.any() else limit
    return ConsoleDifference(stream, common, len(a), len(b), a[-TAIL:], b[-TAIL:])


def _compare_disks(a: np.ndarray | None, b: np.ndarray | None) -> list[int]:
    """Sectors whose contents differ (none unless both disks exist and have the same size)."""
    if a is None or b is None or len(a) != len(b):
        return []  # no disk, or disks of different sizes: the config shows it
    diff = (np.asarray(a).reshape(-1, SECTOR_SIZE) != np.asarray(b).reshape(-1, SECTOR_SIZE)).any(
        axis=1
    )
    return np.flatnonzero(diff).tolist()


def compare(a: Any, b: Any) -> Comparison:
    """Compare two VMs or snapshots (any mix, any hypervisors); returns a ``Comparison``.

    A running VM is compared as it is at this moment; pause it first for a state that holds still.
    """
    va, vb = view_of(a), view_of(b)
    cmp = Comparison(va.label, vb.label)
    if cmp.a == cmp.b and a is not b:
        cmp.a, cmp.b = f"{cmp.a} (a)", f"{cmp.b} (b)"
    cmp.config = _differences(va.config, vb.config)
    cmp.status = _differences(va.status, vb.status)
    cmp.registers = _differences(_register_values(va), _register_values(vb))
    cmp.pages, cmp.pages_compared = _compare_pages(va, vb)
    cmp.console = [
        d
        for d in (
            _compare_stream("output", va.console_output, vb.console_output),
            _compare_stream("input", va.console_input, vb.console_input),
        )
        if d is not None
    ]
    dev = {k: int(va.st[i]) for k, i in DEVICE_REGISTERS.items()}
    dev_b = {k: int(vb.st[i]) for k, i in DEVICE_REGISTERS.items()}
    cmp.devices = _differences(dev, dev_b)
    cmp.disk_sectors = _compare_disks(va.disk, vb.disk)
    keys = sorted(set(va.metrics) | set(vb.metrics), key=_metric_order)
    cmp.metrics = [Metric(k, va.metrics.get(k, 0), vb.metrics.get(k, 0)) for k in keys]
    return cmp


# ---- rendering -----------------------------------------------------------------------------------
def _fmt_config(name: str, value: Any) -> str:
    """A configuration value as text (sizes as 64K, None as none)."""
    if value is None:
        return "none"
    if name in ("memory", "disk"):
        return format_size(int(value))
    return str(value)


def _fmt_register(name: str, value: int) -> str:
    """A register as text: counters in decimal, an idle timer as never, the rest in hex."""
    csr = name.split(".", 1)[-1]
    if csr in ("cycle", "instret"):
        return f"{value:,}"
    if csr == "timecmp" and value >= NEVER_FIRES:
        return "never"
    return f"{value:#010x}"


def _fmt_bytes(data: bytes) -> str:
    """Bytes as a quoted string with escapes."""
    return repr(data)[1:]  # b'...' -> '...': printable, escapes visible


def _page_line(p: PageDifference) -> str:
    """One line for a differing page."""
    first = ", ".join(f"+{o:#05x}: {x:02x}/{y:02x}" for o, x, y in p.first)
    more = ", ..." if p.differing > len(p.first) else ""
    noun = "byte differs" if p.differing == 1 else "bytes differ"
    return f"page {p.gfn} ({p.addr:#010x}): {p.differing} {noun}; a/b at {first}{more}"


def _console_lines(c: ConsoleDifference) -> list[str]:
    """Lines for a differing console stream."""
    return [
        f"{c.stream}: {c.a_len} vs {c.b_len} bytes, equal up to byte {c.common}",
        f"  a ends {_fmt_bytes(c.a_tail)}",
        f"  b ends {_fmt_bytes(c.b_tail)}",
    ]


def _rows(items: list[Any], render: Callable[[Any], list[str]]) -> list[str]:
    """Rendered, indented lines of the first SHOW items (and how many more there are)."""
    lines: list[str] = []
    for item in items[:SHOW]:
        lines += ["  " + line for line in render(item)]
    if len(items) > SHOW:
        lines.append(f"  ... and {len(items) - SHOW} more")
    return lines


def _sector_list(cmp: Comparison) -> str:
    """The first SHOW differing disk sectors, and how many more there are."""
    shown = ", ".join(str(s) for s in cmp.disk_sectors[:SHOW])
    more = len(cmp.disk_sectors) - SHOW
    return f"{shown}, ... and {more} more" if more > 0 else shown


def _text_lines(cmp: Comparison) -> list[str]:
    """The lines of ``str(cmp)``."""
    lines = [f"a = {cmp.a}", f"b = {cmp.b}", cmp.summary()]
    w = 22

    def pair(name: str, x: str, y: str) -> list[str]:
        return [f"{name:<{w}} {x:>16}  {y:>16}"]

    def section(title: str, items: list[Any], render: Callable[[Any], list[str]]) -> None:
        if items:
            lines.append(f"{title} ({len(items)} differ):")
            lines.extend(_rows(items, render))
        else:
            lines.append(f"{title}: same")

    section(
        "config",
        cmp.config,
        lambda d: pair(d.name, _fmt_config(d.name, d.a), _fmt_config(d.name, d.b)),
    )
    if cmp.status:
        section("status", cmp.status, lambda d: pair(d.name, str(d.a), str(d.b)))
    section(
        "registers",
        cmp.registers,
        lambda d: pair(d.name, _fmt_register(d.name, d.a), _fmt_register(d.name, d.b)),
    )
    if cmp.pages:
        lines.append(f"pages ({len(cmp.pages)} of {cmp.pages_compared} differ):")
        lines.extend(_rows(cmp.pages, lambda p: [_page_line(p)]))
    else:
        lines.append(f"pages: same ({cmp.pages_compared} compared)")
    section("console", cmp.console, _console_lines)
    devices = list(cmp.devices)
    section("devices", devices, lambda d: pair(d.name, f"{d.a:#x}", f"{d.b:#x}"))
    if cmp.disk_sectors:
        n = len(cmp.disk_sectors)
        lines.append(f"disk: {n} sector{'' if n == 1 else 's'} differ: {_sector_list(cmp)}")
    lines.append(f"{'metrics':<{w}} {'a':>16}  {'b':>16}  {'b - a':>14}")
    for m in cmp.metrics:
        lines.append(f"  {m.name:<{w - 2}} {m.a:>16,}  {m.b:>16,}  {m.delta:>+14,}")
    return lines


def _html(cmp: Comparison) -> str:
    """An HTML table of a comparison (every value escaped)."""
    e = html.escape
    hi = ' style="background:#fde2e2"'
    out = [
        "<table>",
        f"<caption style='text-align:left'><b>{e(cmp.summary())}</b></caption>",
        f"<tr><th></th><th style='text-align:left'>a: {e(cmp.a)}</th>"
        f"<th style='text-align:left'>b: {e(cmp.b)}</th><th></th></tr>",
    ]

    def head(title: str, note: str = "") -> None:
        out.append(
            f"<tr><th colspan='4' style='text-align:left'>{e(title)}"
            f"{' <small>(' + e(note) + ')</small>' if note else ''}</th></tr>"
        )

    def row(name: str, x: str, y: str, extra: str = "", differs: bool = True) -> None:
        out.append(
            f"<tr{hi if differs else ''}><td>{e(name)}</td><td><code>{e(x)}</code></td>"
            f"<td><code>{e(y)}</code></td><td>{e(extra)}</td></tr>"
        )

    def same_row() -> None:
        out.append("<tr><td colspan='4'><i>same</i></td></tr>")

    head("config")
    for d in cmp.config:
        row(d.name, _fmt_config(d.name, d.a), _fmt_config(d.name, d.b))
    if not cmp.config:
        same_row()
    if cmp.status:
        head("status", "informational")
        for d in cmp.status:
            row(d.name, str(d.a), str(d.b))
    head("registers")
    for d in cmp.registers[: SHOW * 3]:
        row(d.name, _fmt_register(d.name, d.a), _fmt_register(d.name, d.b))
    if not cmp.registers:
        same_row()
    head("pages", f"{len(cmp.pages)} of {cmp.pages_compared} differ")
    for p in cmp.pages[:SHOW]:
        first = ", ".join(f"+{o:#05x}" for o, _, _ in p.first)
        row(
            f"page {p.gfn} ({p.addr:#010x})",
            " ".join(f"{x:02x}" for _, x, _ in p.first),
            " ".join(f"{y:02x}" for _, _, y in p.first),
            f"{p.differing} bytes differ, first at {first}",
        )
    if len(cmp.pages) > SHOW:
        out.append(f"<tr><td colspan='4'>... and {len(cmp.pages) - SHOW} more</td></tr>")
    if not cmp.pages:
        same_row()
    head("console")
    for c in cmp.console:
        row(
            c.stream,
            _fmt_bytes(c.a_tail),
            _fmt_bytes(c.b_tail),
            f"{c.a_len} vs {c.b_len} bytes, equal up to byte {c.common}",
        )
    if not cmp.console:
        same_row()
    head("devices")
    for d in cmp.devices:
        row(d.name, f"{d.a:#x}", f"{d.b:#x}")
    if not cmp.devices:
        same_row()
    n = len(cmp.disk_sectors)
    head("disk sectors", f"{n} differ" if n else "")
    if cmp.disk_sectors:
        row("sectors", "", "", _sector_list(cmp))
    else:
        same_row()
    head("metrics", "informational; last column b - a")
    for m in cmp.metrics:
        row(m.name, f"{m.a:,}", f"{m.b:,}", f"{m.delta:+,}", differs=False)
    out.append("</table>")
    return "\n".join(out)
