"""The ``vmlab`` command line: assemble, disassemble and run VL32 programs, list images, benchmark.

::

    vmlab asm prog.s -o prog.img [-D NAME=VALUE ...] [-I DIR ...]
    vmlab disasm prog.img [--start ADDR|SYMBOL] [--count N]
    vmlab run prog.s|prog.img|NAME [--max-instructions N] [--trace N] [--memory 4M]
                                   [--no-strict] [--disk FILE] [--stats] [-D NAME=VALUE ...]
    vmlab images
    vmlab bench [--json] [--quick]

``vmlab run`` streams the guest's console output to stdout while it runs and exits with the
guest's exit code (``halt`` / power off); 1 when the guest faults, 2 when it runs out of its
instruction budget or waits for input that never comes. A user error (a missing file, a bad
``-D``, an unknown image, a malformed program) is reported on stderr without a traceback.

>>> main(["run", "hello"])  # doctest: +SKIP
Hello, world! This is a VL32 machine.
OK
0
"""

from __future__ import annotations

import argparse
import codecs
import io
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from . import __version__, images
from ._interrupts import Held
from .asm import AssembleError, assemble, assemble_file, disassemble, disassemble_word
from .devices.disk import Disk
from .image import Image, ImageFormatError
from .machine import Machine, RunResult

__all__ = ["CliError", "build_parser", "load_program", "main", "parse_defines"]

RUN_SLICE = 2_000_000  # instructions per call into the machine: output streams between calls
_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.$]*")
_DEFAULT_LINE = re.compile(
    r"^\s*\.default\s+([A-Za-z_.][A-Za-z0-9_.$]*)\s*,\s*([^#;]*?)\s*(?:[#;].*)?$"
)


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 1, no traceback."""


# ---- argument helpers ---------------------------------------------------------------------------
def _count(text: str) -> int:
    """An argparse type: a non-negative integer (``1000000``, ``1_000_000`` or ``0x100``)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def parse_defines(items: Sequence[str] | None) -> dict[str, int]:
    """``["N=1000", "PAGING=1"]`` -> ``{"N": 1000, "PAGING": 1}``; CliError on bad syntax."""
    defines: dict[str, int] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _NAME.fullmatch(name):
            raise CliError(f"bad -D {item!r}: expected NAME=VALUE, for example -D N=1000")
        try:
            defines[name] = int(value, 0)
        except ValueError:
            raise CliError(
                f"bad -D {item!r}: {value!r} is not an integer (decimal, 0x hex, 0b binary)"
            ) from None
    return defines


def _library_dirs() -> list[Path]:
    """The images directory (for ``.include "lib/console.s"``), if vmlab's images are present."""
    try:
        return [images.images_dir()]
    except FileNotFoundError:
        return []


def load_program(spec: str, defines: dict[str, int], include_dirs: Sequence[str] = ()) -> Image:
    """An Image from a ``.s`` source, a ``.img`` file or the name of a built-in image."""
    if not spec:
        raise CliError("the program name is empty: give a .s or .img file or a built-in image name")
    path = Path(spec)
    if path.is_file():
        with _reading(path):
            if path.suffix == ".s":
                dirs = [*include_dirs, *_library_dirs()]
                return assemble_file(path, defines=defines, include_dirs=dirs)
            if defines:
                raise CliError(f"-D applies to assembly sources and built-in images, not to {spec}")
            return Image.load(path)
    if path.exists() and spec not in _image_names():
        if path.is_dir():
            raise CliError(f"{spec} is a directory, not a program")
        raise CliError(f"{spec} is not a regular file")
    if path.suffix in (".s", ".img") or "/" in spec or os.sep in spec:
        raise CliError(f"no such file: {spec}")
    names = _image_names()
    if spec not in names:
        known = ", ".join(names) or "(none: vmlab's images folder is missing)"
        raise CliError(f"{spec!r} is neither a file nor a built-in image; built-in images: {known}")
    try:
        return images.load(spec, **defines)
    except FileNotFoundError as exc:  # vmlab's images folder is missing
        raise CliError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # a define's value (an AssembleError prints itself)
        raise CliError(f"{spec}: {exc}") from None


def _image_names() -> list[str]:
    """Built-in image names, or none if vmlab's images folder is missing."""
    try:
        return images.names()
    except FileNotFoundError:
        return []


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Name ``path`` in an OSError raised while reading it (a failing read carries no file name)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise CliError(f"{path}: {exc.strerror or exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (through links; by path if one is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _err(text: str) -> None:
    """Print one message line on stderr."""
    print(f"vmlab: {text}", file=sys.stderr, flush=True)


# ---- vmlab asm / disasm -----------------------------------------------------------------------
def _cmd_asm(args: argparse.Namespace) -> int:
    """Assemble a source file into an image file."""
    if not args.file:
        raise CliError("the source file name is empty")
    source = Path(args.file)
    if not source.is_file():
        raise CliError(
            f"no such file: {source}" if not source.exists() else f"{source} is not a regular file"
        )
    if args.output == "":
        raise CliError("-o: the output file name is empty")
    output = Path(args.output) if args.output is not None else source.with_suffix(".img")
    if _same_file(output, source):
        raise CliError(f"the output {output} would overwrite the source; give -o FILE.img")
    dirs = [*args.include, *_library_dirs()]
    with _reading(source):
        image = assemble_file(source, defines=parse_defines(args.define), include_dirs=dirs)
    for name in sorted({f for f, _ in image.source_map.values()}):
        if _same_file(output, Path(name)):
            raise CliError(
                f"the output {output} would overwrite {name}, a source file of this program; "
                "give -o FILE.img"
            )
    if output.suffix == ".s":
        raise CliError(f"the output {output} is named like a source (.s); give -o FILE.img")
    image.save(output)
    print(
        f"{source} -> {output}: {image.size} bytes in {len(image.segments)} segment(s), "
        f"entry {image.entry:#010x}, {len(image.symbols)} symbols"
    )
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    """Print a disassembly listing of an image."""
    image = load_program(args.file, parse_defines(args.define))
    start = None
    if args.start is not None:
        try:
            start = int(args.start, 0)
        except ValueError:
            try:
                start = image.symbol(args.start)
            except KeyError as exc:
                raise CliError(f"--start: {exc.args[0]}") from None
        if not 0 <= start <= 0xFFFFFFFF:
            raise CliError(f"--start {args.start}: an address is from 0 to 0xffffffff")
    try:
        lines = disassemble(image, start, args.count)
    except ValueError as exc:
        raise CliError(f"--start: {exc}") from None
    print("\n".join(lines))
    return 0


# ---- vmlab run ----------------------------------------------------------------------------------
class _ConsoleStream:
    """Copies a machine's new console output to a text stream (as raw bytes when it can)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def pump(self, machine: Machine) -> None:
        """Write whatever the guest printed since the last call."""
        data = machine.console.output_bytes
        if not data:
            return
        machine.console.clear()
        buffer = getattr(self.stream, "buffer", None)
        if buffer is not None:
            self.stream.flush()
            buffer.write(data)
            buffer.flush()
        else:
            self.stream.write(self.decoder.decode(data))
            self.stream.flush()


class _Tracer:
    """Prints one line per executed instruction: pc, disassembly, source location and text."""

    def __init__(self, machine: Machine, image: Image, stream: TextIO) -> None:
        self.machine = machine
        self.image = image
        self.stream = stream
        self.files: dict[str, list[str]] = {}

    def _source(self, file: str, line: int) -> str:
        """The text of ``file``'s line ``line`` (empty when the file cannot be read)."""
        if file not in self.files:
            try:
                self.files[file] = Path(file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self.files[file] = []
        lines = self.files[file]
        return lines[line - 1].split("#")[0].strip() if 0 < line <= len(lines) else ""

    def line(self) -> None:
        """Print the instruction the machine is about to execute."""
        pc = self.machine.pc
        try:
            word = self.machine.read_word(self.machine.translate(pc))
            text = disassemble_word(word, pc)
        except (ValueError, IndexError):
            text = "?? (not mapped to RAM)"
        where = ""
        loc = self.image.source_map.get(pc)
        if loc is not None:
            where = f"{Path(loc[0]).name}:{loc[1]}"
            source = self._source(*loc)
            if source and source.lower() != text.lower():
                where = f"{where:<16} {source}"
        print(f"trace {pc:#010x}  {text:<30} {where}".rstrip(), file=self.stream)


def _make_machine(args: argparse.Namespace) -> Machine:
    """A Machine with the --memory, --no-strict and --disk options applied."""
    disk = None
    if args.disk is not None:
        if not args.disk:
            raise CliError("--disk: the file name is empty")
        path = Path(args.disk)
        if path.is_dir():
            raise CliError(f"--disk: {args.disk} is a directory, not a disk image")
        if path.exists() and not path.is_file():
            raise CliError(f"--disk: {args.disk} is not a regular file")
        if not path.is_file():
            raise CliError(
                f"--disk: no such file: {args.disk} (a disk image is a file of 512-byte "
                f"sectors; make an empty one with: truncate -s 1M {args.disk})"
            )
        try:
            disk = Disk.file(args.disk)
        except (OSError, ValueError) as exc:
            raise CliError(f"--disk: {exc}") from None
    try:
        return Machine(memory=args.memory, strict=not args.no_strict, disk=disk)
    except (TypeError, ValueError) as exc:
        raise CliError(f"--memory: {exc}") from None


def _load_jit() -> float:
    """Load (or compile) the jitted core by running one ``halt``; the seconds that took."""
    t0 = time.perf_counter()
    machine = Machine(memory="64K")
    machine.load(assemble("halt"))
    machine.run()
    return time.perf_counter() - t0


def _print_stats(
    machine: Machine, host_seconds: float, jit_seconds: float, reboots: int = 0
) -> None:
    """The --stats block on stderr (its counters run on across reboots)."""
    s = machine.stats
    mips = s.instructions / host_seconds / 1e6 if host_seconds > 0 else 0.0
    rows = [
        ("instructions", f"{s.instructions:,}"),
        ("cycles", f"{s.cycles:,} (modelled)"),
        ("host time", f"{host_seconds:.3f} s = {mips:.1f} MIPS (wall clock, measured)"),
        ("JIT load", f"{jit_seconds:.3f} s (before the run, not in the host time)"),
        ("idle cycles", f"{s.idle_cycles:,}"),
        ("TLB misses", f"{s.tlb_misses:,}"),
        ("traps", f"{s.traps:,}"),
        ("interrupts", f"{s.interrupts:,}"),
    ]
    if s.traps_by_cause:
        rows.append(
            ("traps by cause", ", ".join(f"{k} {v:,}" for k, v in s.traps_by_cause.items()))
        )
    if reboots:
        rows.append(("reboots", f"{reboots:,}"))
    width = max(len(name) for name, _ in rows)
    print("--- stats ---", file=sys.stderr)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=sys.stderr)
    sys.stderr.flush()


def _exit_status(code: int) -> int:
    """A guest exit code as a process exit status (0..255; a non-zero code never becomes 0)."""
    status = code & 0xFF
    return 1 if code != 0 and status == 0 else status


def _cmd_run(args: argparse.Namespace) -> int:
    """Run a program, streaming its console output; exit with its exit code."""
    defines = parse_defines(args.define)
    image = load_program(args.image, defines, args.include)
    with Held():  # Numba loads the core here: a Ctrl-C then is raised after it
        jit_seconds = _load_jit()
        machine = _make_machine(args)
        try:
            machine.load(image)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    console = _ConsoleStream(sys.stdout)
    tracer = _Tracer(machine, image, sys.stderr)
    left = args.max_instructions  # None: no limit
    host = 0.0
    result: RunResult | None = None
    done = 0  # instructions retired by the runs so far, across reboots
    reboots = 0
    before_boot = 0  # instructions retired before the last reboot (a reboot resets the counters)

    def account(res: RunResult) -> RunResult:
        """Stream output, count time and budget, and note a reboot (the first one only)."""
        nonlocal left, host, done, reboots, before_boot
        _LOST.check()
        console.pump(machine)
        host += res.host_seconds
        done += res.instructions
        if left is not None:
            left -= res.instructions
        if res.reason == "reboot":
            if reboots == 0:
                _err("the guest rebooted; it starts again from its entry point")
            reboots += 1
            before_boot = done
        return res

    def total() -> int:
        """Instructions retired so far, across reboots."""
        return before_boot + machine.instructions

    def finish() -> None:
        """Say how often the guest rebooted (if more than once) and print the --stats block."""
        if reboots > 1:
            _err(f"the guest rebooted {reboots:,} times")
        if args.stats:
            _print_stats(machine, host, jit_seconds, reboots)

    try:
        traced = 0
        while traced < args.trace and (left is None or left > 0):
            tracer.line()
            result = account(machine.step())
            traced += 1
            if result.reason not in ("budget", "reboot"):
                break
        while (result is None or result.reason in ("budget", "reboot")) and (
            left is None or left > 0
        ):
            result = account(
                machine.run(max_instructions=RUN_SLICE if left is None else min(left, RUN_SLICE))
            )
    except KeyboardInterrupt:
        _forget_unhandled_interrupt()
        console.pump(machine)
        _err(
            f"interrupted after {total():,} instructions, at {machine.describe_address(machine.pc)}"
        )
        finish()
        return 130
    finish()
    reason = "budget" if result is None else result.reason
    if reason in ("halt", "poweroff"):
        assert result is not None and result.exit_code is not None
        return _exit_status(result.exit_code)
    if reason == "fault":
        assert result is not None
        _err(f"guest fault: {result.message}")
        return 1
    if reason == "idle":
        assert result is not None
        _err(f"the guest stopped making progress: {result.message}")
        return 2
    if reason in ("budget", "reboot"):
        _err(
            f"stopped after {total():,} instructions (--max-instructions "
            f"{args.max_instructions}); the guest was still running at "
            f"{machine.describe_address(machine.pc)}"
        )
        return 2
    assert result is not None
    _err(f"the machine stopped: {result}")
    return 2


# ---- vmlab images / bench -----------------------------------------------------------------------
def _describe_image(path: Path) -> tuple[str, list[str]]:
    """An image source's one-line description (from its first comment) and its .default settings."""
    text = path.read_text(encoding="utf-8").splitlines()
    description = ""
    if text and text[0].startswith("#"):
        first = text[0].lstrip("#").strip()
        description = first.split("--", 1)[1].strip() if "--" in first else first
    defaults = []
    for line in text:
        m = _DEFAULT_LINE.match(line)
        if m:
            defaults.append(f"{m.group(1)}={m.group(2)}")
    return description, defaults


def _cmd_images(args: argparse.Namespace) -> int:
    """List the built-in images with their descriptions and size parameters."""
    try:
        folder = images.images_dir()
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    names = images.names()
    width = max((len(n) for n in names), default=4)
    for name in names:
        description, defaults = _describe_image(folder / f"{name}.s")
        print(f"{name:<{width}}  {description}")
        if defaults:
            print(f"{'':<{width}}  defaults: {' '.join(defaults)}")
    print(f"\nrun one with `vmlab run NAME [-D NAME=VALUE ...]`; sources in {folder}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark (vmlab.bench)."""
    from .bench import runner

    return runner.run_from_args(args)


def _cmd_hv(args: argparse.Namespace) -> int:
    """Run VMs together (vmlab.cli_hv)."""
    from .cli_hv import cmd_hv

    return _hypervisor_errors(cmd_hv, args)


def _cmd_overhead(args: argparse.Namespace) -> int:
    """Compare the techniques with bare metal (vmlab.cli_hv)."""
    from .cli_hv import cmd_overhead

    return _hypervisor_errors(cmd_overhead, args)


def _hypervisor_errors(func: Callable[..., int], args: argparse.Namespace) -> int:
    """Run a hypervisor command; bad specs, sizes and memory shortages become one-line errors."""
    from .hypervisor import HostMemoryError, VMStateError

    try:
        return func(args, lambda spec, defines: load_program(spec, defines))
    except (ValueError, TypeError, HostMemoryError, VMStateError) as exc:
        if isinstance(exc, ImageFormatError):
            raise
        raise CliError(str(exc)) from None


# ---- the parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``vmlab`` command."""
    parser = argparse.ArgumentParser(
        prog="vmlab",
        description="The VL32 lab machine: assemble, inspect and run guest programs.",
    )
    parser.add_argument("--version", action="version", version=f"vmlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        """Add subcommand ``name`` that runs ``func``."""
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func, parser=p)
        return p

    def defines(p: argparse.ArgumentParser) -> None:
        """Add the repeatable -D NAME=VALUE option."""
        p.add_argument(
            "-D",
            dest="define",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="set a symbol before assembly (overrides a .default); repeatable",
        )

    def includes(p: argparse.ArgumentParser) -> None:
        """Add the repeatable -I DIR option."""
        p.add_argument(
            "-I",
            dest="include",
            action="append",
            default=[],
            metavar="DIR",
            help=".include search directory (repeatable; vmlab's images/ is searched last)",
        )

    p = command("asm", _cmd_asm, "assemble a .s source into a .img image")
    p.add_argument("file", metavar="FILE.s")
    p.add_argument("-o", "--output", metavar="FILE.img", help="output file (default: FILE.img)")
    defines(p)
    includes(p)

    p = command("disasm", _cmd_disasm, "disassemble an image (.img, .s or built-in name)")
    p.add_argument("file", metavar="FILE.img")
    p.add_argument("--start", metavar="ADDR", help="first address (a number or a symbol)")
    p.add_argument("--count", type=_count, metavar="N", help="at most N instruction lines")
    defines(p)

    p = command("run", _cmd_run, "run a program (.s, .img or built-in image name)")
    p.add_argument("image", metavar="IMAGE|NAME")
    p.add_argument("--max-instructions", type=_count, metavar="N", help="stop after N instructions")
    p.add_argument(
        "--trace",
        type=_count,
        default=0,
        metavar="N",
        help="print the first N executed instructions on stderr, then run normally",
    )
    p.add_argument("--memory", default="4M", help="RAM size, e.g. 1M, 4M, 64M (default 4M)")
    p.add_argument(
        "--no-strict", action="store_true", help="csrr status does not trap in user mode"
    )
    p.add_argument("--disk", metavar="FILE", help="attach a disk image file (512-byte sectors)")
    p.add_argument("--stats", action="store_true", help="print counters on stderr at the end")
    defines(p)
    includes(p)

    command("images", _cmd_images, "list the built-in images")

    from .cli_hv import add_commands

    add_commands(command, defines, _cmd_hv, _cmd_overhead)

    from .bench.runner import add_arguments

    p = command("bench", _cmd_bench, "run the speed benchmark (see bench/README.md)")
    add_arguments(p)
    return parser


class _Discard(io.TextIOBase):
    """Stands in for a closed stdout or stderr: what is written to it is dropped."""

    def write(self, text: str) -> int:
        """Drop ``text``."""
        return len(text)


def _closed(stream: TextIO | None) -> bool:
    """Whether ``stream`` is closed: None (closed at start-up) or on a descriptor not open for writing.

    After ``2>&-`` a wrapper script (a pyenv shim) can leave a file it read on descriptor 2.
    """
    if stream is None:
        return True
    try:
        import fcntl

        return fcntl.fcntl(stream.fileno(), fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    except (ImportError, AttributeError, OSError, ValueError):  # no fcntl, or no descriptor
        return False


class _LostInterrupts:
    """Catches a Ctrl-C that Python could not raise, to raise it later.

    A SIGINT that lands in a callback (a weakref's, or llvmlite's while Numba loads its cache)
    is printed as "Exception ignored ... KeyboardInterrupt" and dropped: the run would go on.
    While active, such an interrupt is recorded instead, and ``check`` raises it.
    """

    def __init__(self) -> None:
        self.seen = False
        self.previous = sys.unraisablehook

    def __enter__(self) -> _LostInterrupts:
        self.seen = False
        self.previous = sys.unraisablehook
        sys.unraisablehook = self.hook
        return self

    def __exit__(self, *exc: object) -> None:
        sys.unraisablehook = self.previous

    def hook(self, unraisable: object) -> None:
        """Record a KeyboardInterrupt; pass anything else on."""
        if isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
            self.seen = True
        else:
            self.previous(unraisable)  # type: ignore[arg-type]

    def check(self) -> None:
        """Raise KeyboardInterrupt if one was lost since the last check."""
        if self.seen:
            self.seen = False
            raise KeyboardInterrupt


_LOST = _LostInterrupts()


def _forget_unhandled_interrupt() -> None:
    """Clear CPython's note that a KeyboardInterrupt left a string ``exec`` (call once caught).

    A Ctrl-C that leaves code run by ``exec(str)`` (dataclasses and Numba make functions so)
    marks it unhandled even when it is caught; ``python -m`` would then end by SIGINT instead
    of the exit status. Each string ``exec`` clears the mark first.
    """
    exec("pass", {})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vmlab`` command with ``argv`` (default: the process arguments); the exit status."""
    # drop what goes to a closed stdout or stderr (``>&-``); print() to a stderr that is None
    # would write to stdout
    closed = {n: getattr(sys, n) for n in ("stdout", "stderr") if _closed(getattr(sys, n))}
    for name in closed:
        setattr(sys, name, _Discard())
    try:
        with _LOST:
            status = _main(argv)
            _LOST.check()
            return status
    except KeyboardInterrupt:  # also while the subcommands' modules are imported
        _forget_unhandled_interrupt()
        _err("interrupted")
        return 130
    finally:
        for name, stream in closed.items():
            setattr(sys, name, stream)


def _main(argv: Sequence[str] | None) -> int:
    """``main`` without the stream and Ctrl-C handling."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # report them with the subcommand's usage, not the top level's
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 1
    try:
        return int(args.func(args))
    except CliError as exc:
        _err(str(exc))
    except AssembleError as exc:
        print(exc, file=sys.stderr, flush=True)
        n = len(exc.diagnostics) + exc.suppressed
        _err(f"assembly failed with {n} error{'s' if n != 1 else ''}")
    except ImageFormatError as exc:
        _err(str(exc))
    except BrokenPipeError:
        # the reader went away (``vmlab disasm x.img | head``): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as exc:
        if exc.filename is not None and exc.strerror:
            _err(f"{exc.filename}: {exc.strerror}")
        else:
            _err(str(exc))
    return 1
