"""The ``vmlab hv`` and ``vmlab overhead`` commands: run VMs on a hypervisor from the shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .hypervisor import MODES, VM, Hypervisor
from .hypervisor.host import MAX_HOST_MEMORY
from .machine import Machine
from .units import format_size, parse_size

_VM_KEYS = {"mode", "memory", "shares", "limit", "reservation", "strict"}


class SpecError(ValueError):
    """A VM spec on the command line is malformed."""


def parse_vm_spec(spec: str) -> tuple[str, str, dict[str, object]]:
    """``NAME=IMAGE[,key=value...]`` -> (name, image, create_vm keyword arguments)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise SpecError(f"VM spec {spec!r} is not NAME=IMAGE[,mode=...,memory=...,shares=...]")
    image, *options = rest.split(",")
    kwargs: dict[str, object] = {}
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep or key not in _VM_KEYS:
            raise SpecError(
                f"VM spec {spec!r}: {opt!r} is not one of {', '.join(sorted(_VM_KEYS))}=VALUE"
            )
        if key in kwargs:
            raise SpecError(f"VM {name!r}: {key} is given twice in {spec!r}")
        try:
            if key in ("shares",):
                kwargs[key] = int(value)
            elif key in ("limit", "reservation"):
                kwargs[key] = float(value)
            elif key == "strict":
                if value not in ("0", "1", "yes", "no", "true", "false"):
                    raise ValueError(value)
                kwargs[key] = value in ("1", "yes", "true")
            elif key == "memory":
                kwargs[key] = parse_size(value, "memory")
            else:
                kwargs[key] = value
        except ValueError:
            raise SpecError(f"VM spec {spec!r}: bad value for {key}: {value!r}") from None
    return name, image, kwargs


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    )


def _exits_text(vm: VM) -> str:
    return ", ".join(f"{k} {v.count:,}" for k, v in sorted(vm.stats.exits.items())) or "-"


def cmd_hv(args: argparse.Namespace, load: Callable[[str, dict[str, int]], object]) -> int:
    """Create the VMs given on the command line, run them together, print outputs and counters."""
    from .cli import CliError, parse_defines

    defines = parse_defines(args.define)
    host_memory = parse_size(args.host_memory, "--host-memory")
    if host_memory > MAX_HOST_MEMORY:
        raise SpecError(
            f"--host-memory {args.host_memory} is more than the largest host, "
            f"{format_size(MAX_HOST_MEMORY)}"
        )
    try:
        hv = Hypervisor(host_memory=host_memory, cpus=args.cpus)
    except MemoryError:
        raise SpecError(
            f"--host-memory {args.host_memory}: this computer cannot allocate that much memory"
        ) from None
    for spec in args.vms:
        name, image, kwargs = parse_vm_spec(spec)
        kwargs.setdefault("memory", "4M")
        try:
            program = load(image, defines)
        except CliError as exc:
            raise CliError(f"VM {name!r}: {exc}") from None
        try:
            vm = hv.create_vm(name, program, exits=args.exits, **kwargs)
            vm.start()
        except (ValueError, TypeError) as exc:  # a HostMemoryError names the VM itself
            raise SpecError(f"VM {name!r}: {exc}") from None
    hv.run(cycles=args.cycles)
    for vm in hv.vms:
        print(f"== {vm.name} ({vm.mode}): {vm.state}" + (f", {vm.message}" if vm.message else ""))
        out = vm.console.output
        sys.stdout.write(out if out.endswith("\n") or not out else out + "\n")
    elapsed = max(1, hv.clock)
    rows = [
        ["vm", "mode", "state", "instructions", "guest cycles", "hyp cycles", "cpu share", "exits"]
    ]
    for vm in hv.vms:
        s = vm.stats
        rows.append(
            [
                vm.name,
                vm.mode,
                vm.state,
                f"{s.instructions:,}",
                f"{s.guest_cycles:,}",
                f"{s.hypervisor_cycles:,}",
                f"{s.consumed_cycles / elapsed:.1%}",
                _exits_text(vm),
            ]
        )
    cpus = f", {hv.cpus} CPUs" if hv.cpus > 1 else ""
    print(f"--- host: {hv.clock:,} cycles{cpus}, idle {hv.idle_cycles:,} ---", file=sys.stderr)
    print(_table(rows), file=sys.stderr)
    return 0 if all(vm.state != "stopped" or vm.stop_reason != "fault" for vm in hv.vms) else 1


def cmd_overhead(args: argparse.Namespace, load: Callable[[str, dict[str, int]], object]) -> int:
    """Run one image on bare metal and in each mode; print the cost of each technique.

    --max-instructions and --max-cycles limit every run, bare metal and VMs alike. A run that
    hits a limit is marked "limit" and gets no overhead (nor do the others if bare metal hit it).
    """
    from .cli import parse_defines

    defines = parse_defines(args.define)
    for mode in args.modes or ():
        if mode not in MODES:
            raise SpecError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    image = load(args.image, defines)
    limits = {"instructions": args.max_instructions, "cycles": args.max_cycles}
    bare = Machine(memory=args.memory, strict=not args.no_strict)
    bare.load(image)
    base = bare.run(max_instructions=limits["instructions"], max_cycles=limits["cycles"])
    # busy cycles: time spent working (guest + hypervisor), idle time excluded on both sides
    busy = base.cycles - bare.stats.idle_cycles
    bare_done = base.reason not in ("budget", "reboot")
    limited = base.reason == "budget"
    rows = [["where", "result", "instructions", "busy cycles", "overhead", "exits"]]
    bare_result = "limit" if limited else base.reason
    rows.append(["bare metal", bare_result, f"{base.instructions:,}", f"{busy:,}", "-", "-"])
    for mode in args.modes or MODES:
        hv = Hypervisor(host_memory=max(parse_size(args.memory) * 2, 16 << 20))
        guest = image
        if mode == "paravirtual" and "PV" not in defines:
            # a paravirtual guest is built to ask the hypervisor (images with a PV option)
            guest = load(args.image, {**defines, "PV": 1})
        vm = hv.create_vm(
            "vm", guest, memory=args.memory, mode=mode, exits=args.exits, strict=not args.no_strict
        )
        vm.start()
        advanced = hv.run(cycles=limits["cycles"], instructions=limits["instructions"])
        hit = vm.state == "running" and (
            advanced >= limits["cycles"]
            or (limits["instructions"] is not None and hv.instructions >= limits["instructions"])
        )
        limited = limited or hit
        used = vm.stats.consumed_cycles
        overhead = f"{used / max(1, busy) - 1:+.1%}" if bare_done and not hit else "-"
        rows.append(
            [
                mode,
                "limit" if hit else vm.stop_reason or vm.state,
                f"{vm.stats.instructions:,}",
                f"{used:,}",
                overhead,
                _exits_text(vm),
            ]
        )
    print(_table(rows))
    if base.reason == "reboot":
        print("vmlab: the guest rebooted on bare metal, so no overhead is shown", file=sys.stderr)
    if limited:
        given = ", ".join(f"--max-{k} {v:,}" for k, v in limits.items() if v is not None)
        print(
            f"vmlab: the runs marked 'limit' reached a limit ({given}) before the guest "
            "finished; an overhead needs complete runs",
            file=sys.stderr,
        )
        return 2
    return 0


def add_commands(
    command: Callable[..., argparse.ArgumentParser],
    defines: Callable[[argparse.ArgumentParser], None],
    hv_func: Callable[[argparse.Namespace], int],
    overhead_func: Callable[[argparse.Namespace], int],
) -> None:
    """Register ``hv`` and ``overhead`` on the main parser (``command`` as in vmlab.cli)."""
    from .cli import _count

    p = command("hv", hv_func, "run several VMs together on one hypervisor")
    p.add_argument("vms", nargs="+", metavar="NAME=IMAGE[,mode=M,memory=S,shares=N,...]")
    p.add_argument(
        "--cycles",
        type=_count,
        default=200_000_000,
        metavar="N",
        help="host cycles to run (default 200,000,000)",
    )
    p.add_argument(
        "--host-memory",
        default="64M",
        help=f"host RAM (default 64M, at most {format_size(MAX_HOST_MEMORY)})",
    )
    p.add_argument(
        "--cpus", type=_count, default=1, metavar="N", help="host CPUs (default 1; a VM uses one)"
    )
    p.add_argument(
        "--exits",
        choices=("python", "jit"),
        default="python",
        help="exit handlers: readable Python or the jitted fast path",
    )
    defines(p)
    p = command(
        "overhead", overhead_func, "measure each virtualization technique against bare metal"
    )
    p.add_argument("image", metavar="IMAGE|NAME")
    p.add_argument("--modes", nargs="*", metavar="MODE", help=f"default: {' '.join(MODES)}")
    p.add_argument("--memory", default="4M", help="guest RAM (default 4M)")
    p.add_argument("--exits", choices=("python", "jit"), default="python")
    p.add_argument(
        "--no-strict", action="store_true", help="a machine whose csrr status does not trap"
    )
    p.add_argument(
        "--max-instructions",
        type=_count,
        default=None,
        metavar="N",
        help="stop every run (bare metal and each VM) after N guest instructions",
    )
    p.add_argument(
        "--max-cycles",
        type=_count,
        default=2_000_000_000,
        metavar="N",
        help="stop every run after N cycles (default 2,000,000,000)",
    )
    defines(p)
