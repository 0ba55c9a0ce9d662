"""Tests for the guest operating system ``images/minikernel.s`` (+ ``images/minikernel/*.s``).

How ``images/minikernel.expected`` is justified
-----------------------------------------------
The kernel's output is the console log of one deterministic schedule: time is modelled cycles, so
the same build prints the same interleaving on every run. The file is the default run's output,
and it is checked here piece by piece, independently of the emulator:

* every line a process prints is computed in Python (``ref_user_lines``: the primes, the Collatz
  records, the refused pointers, ...), and each process's lines must appear in that order;
* the boot lines are derived from the image's symbols (where the frame allocator starts, how many
  frames a process needs), the kill messages from the addresses of the faulting instructions;
* the summary must agree with itself and with the machine's own counters: per-process system
  calls are exactly what each program makes (counted from its code), their sum is the machine's
  syscall trap count, the ticks add up, the timer interrupts taken are the machine's, the number
  of ticks matches the elapsed cycles / QUANTUM;
* the schedule itself (which line comes first) is the one thing only the run can tell. It was
  traced (``python tests/test_minikernel.py --trace 80``: every dispatch, trap and tick, with its
  cycle) and reads as it should for this build: boot makes pids 1..7 ready in order and arms the
  first tick one quantum later. Round 1: primes (1) and collatz (2) compute a whole quantum each
  without printing; faulty (3) has its first write refused, prints that, and is preempted;
  ticker (4) reads ticks() = 3 and sleeps until tick 903; pinger (5) makes one getpid + yield;
  rogue (6) and junk (7) each print their line and are preempted. Round 2: faulty prints its
  second line; rogue reaches its `halt` and junk its bad word: both are killed. Round 3: faulty
  finishes its attempts and dies at its store to 0. From then on primes, collatz and pinger
  share the CPU (collatz yields every 500 values, pinger every round trip, primes only loses the
  CPU to the timer), ticker wakes every ~900 ticks; collatz ends first, then pinger, then
  primes. The ticker is left alone, asleep: the kernel idles in `wfi` and takes each tick's
  interrupt in kernel mode (the idle ticks), wakes the ticker for its last line, and shuts down.

After changing the kernel or the cycle model on purpose, rewrite the file with
``python tests/test_minikernel.py --write-expected`` and check these tests still pass.

Tests marked ``nojit`` use small sizes (``SMALL``) so that they also run in the pure-Python
reference mode (``NUMBA_DISABLE_JIT=1 pytest -m nojit``).
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

import pytest

from vmlab import Machine, assemble, images
from vmlab.isa.arch import PTE_R, PTE_U, PTE_V, PTE_W, PTE_X
from vmlab.isa.table import BY_OPCODE, OPCODE

BUDGET = 50_000_000  # the default run needs about 8 million instructions
PAGE = 4096
UBASE = 0x0040_0000
USTACK_PAGE = 0x007F_F000
PCB_SIZE = 128
PCB_PTBR = 76
PCB_STATE = 68
PROG_SIZE = 16
PTE_PERMS = PTE_V | PTE_R | PTE_W | PTE_X | PTE_U  # the hardware may add A and D

NAMES = ("primes", "collatz", "faulty", "ticker", "pinger", "rogue", "junk")
# how each process ends: ("exit", code) or ("killed", cause name)
OUTCOMES = (
    ("exit", 0),
    ("exit", 0),
    ("killed", "store page fault"),
    ("exit", 42),
    ("exit", 0),
    ("killed", "privileged instruction"),
    ("killed", "illegal instruction"),
)
# small sizes: about 200 thousand instructions, also fine in the pure-Python mode; the ticker
# still outlives the others, so the kernel idles at the end
SMALL = dict(
    PRIMES_N=300,
    PRIMES_EVERY=20,
    COLLATZ_N=200,
    COLLATZ_CHUNK=50,
    TICKER_N=3,
    TICKER_SLEEP=20,
    PING_N=30,
    PING_EVERY=10,
)


# ---- running the kernel --------------------------------------------------------------------


@cache
def image(**defines: int):
    return images.load("minikernel", **defines)


def sizes(**defines: int) -> dict[str, int]:
    """The workload sizes in effect: the image's .default values overridden by ``defines``."""
    syms = image(**defines).symbols
    keys = (*SMALL, "QUANTUM")
    return {k: syms[k] for k in keys}


def run_kernel(machine: Machine | None = None, **defines: int):
    m = machine or Machine(memory="4M")
    m.load(image(**defines))
    r = m.run(max_instructions=BUDGET)
    return m, r


@pytest.fixture(scope="module")
def default_run():
    return run_kernel()


@pytest.fixture(scope="module")
def small_run():
    return run_kernel(**SMALL)


# ---- reference computations ----------------------------------------------------------------


def primes_below(n: int) -> list[int]:
    flags = bytearray([1]) * max(n, 2)
    flags[0:2] = b"\0\0"
    for p in range(2, int(n**0.5) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(flags[p * p :: p]))
    return [i for i in range(n) if flags[i]]


def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def ref_user_lines(z: dict[str, int]) -> dict[int, list[str]]:
    """What each process prints, by pid (computed in Python, never by the emulator)."""
    out: dict[int, list[str]] = {}
    primes = primes_below(z["PRIMES_N"])
    every = z["PRIMES_EVERY"]
    out[1] = [
        f"[1] primes: prime #{i} is {p}" for i, p in enumerate(primes, 1) if i % every == 0
    ] + [f"[1] primes: {len(primes)} primes below {z['PRIMES_N']}"]

    lines, best, best_n = [], 0, 1
    n_max, chunk = z["COLLATZ_N"], z["COLLATZ_CHUNK"]
    for n in range(1, n_max + 1):
        steps = collatz_steps(n)
        if steps > best:
            best, best_n = steps, n
        if n % chunk == 0 or n == n_max:
            lines.append(f"[2] collatz: 1..{n}: {best_n} takes {best} steps")
    out[2] = [*lines, "[2] collatz: done"]

    out[3] = [
        "[3] faulty: write(kernel address 0x00001000, 16) = -1",  # EFAULT: not user memory
        "[3] faulty: write(unmapped 0x00600000, 16) = -1",  # EFAULT: nothing mapped
        "[3] faulty: write(end of data page, 16) = -1",  # EFAULT: half of it is unmapped
        "[3] faulty: write(buffer, 100000) = -3",  # EINVAL: longer than WRITE_MAX
        "[3] faulty: syscall 99 = -2",  # ENOSYS
        "[3] faulty: storing to address 0x00000000",
    ]
    out[4] = [f"[4] ticker: woke up {i}/{z['TICKER_N']}" for i in range(1, z["TICKER_N"] + 1)]
    out[4].append("[4] ticker: 0 sleeps ended early")
    out[5] = [
        f"[5] pinger: {k} round trips"
        for k in range(z["PING_EVERY"], z["PING_N"] + 1, z["PING_EVERY"])
    ] + ["[5] pinger: 0 wrong answers"]
    out[6] = ["[6] rogue: trying to halt the machine"]
    out[7] = ["[7] junk: executing a word that is not an instruction"]
    return out


def ref_syscalls(z: dict[str, int]) -> dict[int, int]:
    """System calls each program makes, counted from its code (getpid in u_init, one write per
    line, the yields and sleeps, exit)."""
    lines = ref_user_lines(z)
    return {
        1: 1 + len(lines[1]) + 1,
        2: 1 + len(lines[2]) + (z["COLLATZ_N"] // z["COLLATZ_CHUNK"]) + 1,  # yield per chunk
        3: 1 + 4 + 4 + 1 + 2,  # 4 refused writes + their 4 lines, syscall 99, 2 lines
        4: 1 + 4 * z["TICKER_N"] + 1 + 1,  # ticks, sleep, ticks, a line per round
        5: 1 + 2 * z["PING_N"] + len(lines[5]) + 1,  # getpid + yield per round
        6: 2,
        7: 2,
    }


def user_va(img, label: str) -> int:
    """Where an image address of the user image is in every process (UBASE + offset)."""
    return UBASE + img.symbols[label] - img.symbols["ublob_start"]


def ref_kernel_lines(img) -> dict[int, str]:
    """The line the kernel prints when each process ends."""
    halt = OPCODE["halt"]
    return {
        1: "[kernel] pid 1 exited with code 0",
        2: "[kernel] pid 2 exited with code 0",
        3: "[kernel] pid 3 killed: store page fault at 0x00000000 "
        f"(pc {user_va(img, 'faulty.store'):#010x})",
        4: "[kernel] pid 4 exited with code 42",
        5: "[kernel] pid 5 exited with code 0",
        6: f"[kernel] pid 6 killed: privileged instruction {halt:#010x} "
        f"at pc {user_va(img, 'rogue.halt'):#010x}",
        7: f"[kernel] pid 7 killed: illegal instruction 0x000000ff "
        f"at pc {user_va(img, 'junk.bad'):#010x}",
    }


def frame_layout(img) -> dict[str, int]:
    """Where the bump allocator puts things: kernel L1, device L2, then 5 frames per process."""
    s = img.symbols
    first = (s["kernel_end"] + PAGE - 1) // PAGE * PAGE
    text_pages = (s["udata_start"] - s["ublob_start"]) // PAGE
    data_pages = (s["ublob_end"] - s["udata_start"]) // PAGE
    per_proc = 1 + text_pages + 1 + data_pages + 1  # L1, text, L2 (made for the first page), ...
    return dict(
        kernel_l1=first,
        first_proc=first + 2 * PAGE,
        per_proc=per_proc * PAGE,
        image_end=UBASE + (text_pages + data_pages) * PAGE,
    )


def ref_boot_lines(img, quantum: int) -> list[str]:
    f = frame_layout(img)
    out = [
        "[kernel] minikernel booting",
        f"[kernel] paging on, kernel page table at {f['kernel_l1']:#010x}",
    ]
    for i, name in enumerate(NAMES):
        l1 = f["first_proc"] + i * f["per_proc"]
        out.append(
            f"[kernel] created pid {i + 1} ({name}): image 0x00400000-{f['image_end']:#010x}, "
            f"stack 0x007ff000, L1 {l1:#010x}"
        )
    out.append(f"[kernel] timer: one tick every {quantum} cycles")
    return out


# ---- parsing the output --------------------------------------------------------------------

ROW = re.compile(
    r"^\[kernel\] +(\d+) (\S+) +(\d+) +(\d+) +(\d+)  (?:exit (-?\d+)|killed \((.+)\))$"
)


def split_output(out: str, img, quantum: int):
    """-> (boot lines, run lines, summary dict); asserts the framing is right."""
    assert out.endswith("\n")
    lines = out.splitlines()
    boot = ref_boot_lines(img, quantum)
    assert lines[: len(boot)] == boot
    end = lines.index(next(x for x in lines if x.startswith("[kernel] all processes have ended")))
    run, tail = lines[len(boot) : end], lines[end:]
    m = re.fullmatch(r"\[kernel\] all processes have ended after (\d+) ticks", tail[0])
    assert m, tail[0]
    summary = {"ticks": int(m.group(1)), "rows": []}
    assert tail[1] == "[kernel]  pid name      ticks syscalls instructions  result"
    for row in tail[2 : 2 + len(NAMES)]:
        r = ROW.match(row)
        assert r, row
        pid, name, ticks, calls, insns = int(r[1]), r[2], int(r[3]), int(r[4]), int(r[5])
        result = ("exit", int(r[6])) if r[6] is not None else ("killed", r[7])
        summary["rows"].append((pid, name, ticks, calls, insns, result))
    rest = tail[2 + len(NAMES) :]
    m1 = re.fullmatch(r"\[kernel\] context switches: (\d+)", rest[0])
    m2 = re.fullmatch(r"\[kernel\] system calls: (\d+)", rest[1])
    m3 = re.fullmatch(
        r"\[kernel\] timer interrupts: (\d+) \((\d+) in user mode, (\d+) while idle\)", rest[2]
    )
    assert m1 and m2 and m3, rest[:3]
    summary["switches"] = int(m1[1])
    summary["syscalls"] = int(m2[1])
    summary["interrupts"], summary["user_ticks"], summary["idle_ticks"] = map(int, m3.groups())
    summary["verdict"] = rest[3:]
    return boot, run, summary


def check_run(m: Machine, r, expect_idle: bool = True, **defines: int) -> dict:
    """Every schedule-independent property of a run; returns the parsed summary.

    ``expect_idle``: the ticker outlives the others at these sizes, so the kernel must idle."""
    img = image(**defines)
    z = sizes(**defines)
    assert (r.reason, r.exit_code) == ("poweroff", 0), (r, m.console.output[-2000:])
    _, run, summary = split_output(m.console.output, img, z["QUANTUM"])

    # each process printed exactly its reference lines, in order, then the kernel's end line
    user, ends = ref_user_lines(z), ref_kernel_lines(img)
    for pid in range(1, len(NAMES) + 1):
        own = [x for x in run if x.startswith(f"[{pid}] ") or x.startswith(f"[kernel] pid {pid} ")]
        assert own == [*user[pid], ends[pid]], pid
    expected_count = sum(len(v) for v in user.values()) + len(ends)
    assert len(run) == expected_count, "unexpected extra lines"

    # the summary table
    calls = ref_syscalls(z)
    rows = summary["rows"]
    assert [row[0] for row in rows] == list(range(1, len(NAMES) + 1))
    assert tuple(row[1] for row in rows) == NAMES
    assert tuple(row[5] for row in rows) == OUTCOMES
    assert {row[0]: row[3] for row in rows} == calls
    assert all(row[4] > 0 for row in rows)
    assert sum(row[4] for row in rows) < r.instructions
    assert summary["verdict"] == [
        "[kernel] all 7 processes ended as expected",
        "[kernel] power off",
    ]

    # totals agree with each other and with the machine's own counters
    stats = m.stats
    assert summary["syscalls"] == sum(calls.values()) == stats.traps_by_cause["syscall"]
    assert summary["user_ticks"] == sum(row[2] for row in rows)
    assert summary["interrupts"] == summary["user_ticks"] + summary["idle_ticks"]
    # every tick is a timer interrupt the CPU took: in user mode, or in the idle loop's window
    assert (
        summary["interrupts"]
        == stats.interrupts
        == stats.interrupts_by_line.get("timer interrupt", 0)
    )
    assert summary["ticks"] == summary["interrupts"]
    assert stats.traps_by_cause == {
        "syscall": summary["syscalls"],
        "store page fault": 1,
        "privileged instruction": 1,
        "illegal instruction": 1,
    }
    # a tick every QUANTUM cycles from the end of boot (which takes well under 400k cycles)
    q = z["QUANTUM"]
    assert summary["ticks"] * q <= r.cycles <= (summary["ticks"] + 1) * q + 400_000
    # every process ran; each switch follows a kernel entry (boot, a trap or an interrupt)
    entries = 1 + summary["syscalls"] + 3 + summary["user_ticks"]
    assert len(NAMES) <= summary["switches"] <= entries
    # the kernel idles (wfi) only while every live process sleeps; the machine skips that time
    assert stats.idle_cycles <= summary["idle_ticks"] * q
    if expect_idle:
        assert summary["idle_ticks"] > 0 and stats.idle_cycles > 0
    return summary


# ---- the default run -----------------------------------------------------------------------


def test_default_run_prints_the_expected_output(default_run) -> None:
    m, r = default_run
    assert (r.reason, r.exit_code) == ("poweroff", 0), r
    assert m.console.output == images.expected_output("minikernel")


def test_default_run_properties(default_run) -> None:
    m, r = default_run
    summary = check_run(m, r)
    assert 5_000_000 <= r.instructions <= 20_000_000  # the size the labs are built around
    # kernel-heavy: thousands of syscalls, hundreds of context switches (a 50,000-cycle tick keeps
    # the timer slower than the cost of virtualizing one tick, as on real systems)
    assert summary["switches"] > 400 and summary["syscalls"] > 5000


def test_default_run_is_deterministic(default_run) -> None:
    m1, r1 = default_run
    m2, r2 = run_kernel()
    assert m2.console.output == m1.console.output
    assert (r2.instructions, r2.cycles, r2.exit_code) == (r1.instructions, r1.cycles, r1.exit_code)


def test_expected_file_passes_the_independent_checks() -> None:
    """The committed file itself (not just today's run) has every checkable property."""
    z = sizes()
    _, run, summary = split_output(images.expected_output("minikernel"), image(), z["QUANTUM"])
    user, ends = ref_user_lines(z), ref_kernel_lines(image())
    for pid in user:
        own = [x for x in run if x.startswith(f"[{pid}] ") or x.startswith(f"[kernel] pid {pid} ")]
        assert own == [*user[pid], ends[pid]]
    assert {row[0]: row[3] for row in summary["rows"]} == ref_syscalls(z)
    assert tuple(row[5] for row in summary["rows"]) == OUTCOMES


# ---- small runs (also in the pure-Python reference mode) -----------------------------------


@pytest.mark.nojit
def test_small_run(small_run) -> None:
    m, r = small_run
    check_run(m, r, **SMALL)
    assert r.instructions < 400_000


@pytest.mark.nojit
def test_each_process_has_its_own_address_space(small_run) -> None:
    """Walk the page tables the kernel left in RAM: one L1 per process, the kernel and devices
    mapped kernel-only and shared, user pages private copies at the same virtual addresses."""
    m, _ = small_run
    img = image(**SMALL)
    s = img.symbols
    f = frame_layout(img)
    kernel_l1 = f["kernel_l1"]
    text_pages = (s["udata_start"] - s["ublob_start"]) // PAGE
    data_pages = (s["ublob_end"] - s["udata_start"]) // PAGE
    user_text = bytes(m.read(s["ublob_start"], text_pages * PAGE))  # the image copy, untouched
    seen_frames: set[int] = set()
    l2s = set()
    for i in range(len(NAMES)):
        pid = i + 1
        pcb = s["proc_table"] + i * PCB_SIZE
        l1 = m.read_word(pcb + PCB_PTBR)
        assert l1 == f["first_proc"] + i * f["per_proc"]
        assert m.read_word(pcb + PCB_STATE) in (4, 5)  # exited or killed
        # the kernel's entries: RAM superpage and devices, no U bit, identical to the kernel's
        assert m.read_word(l1) & PTE_PERMS == PTE_V | PTE_R | PTE_W | PTE_X
        assert m.read_word(l1 + 0x3C0 * 4) == m.read_word(kernel_l1 + 0x3C0 * 4)
        dev_l2 = m.read_word(kernel_l1 + 0x3C0 * 4) & ~0xFFF
        for k in range(4):
            assert m.read_word(dev_l2 + 4 * k) & PTE_PERMS == PTE_V | PTE_R | PTE_W
        # the user region: one private level-2 table and nothing else in the level-1 table
        used = [j for j in range(1024) if m.read_word(l1 + 4 * j)]
        assert used == [0, 1, 0x3C0]
        l2 = m.read_word(l1 + 4) & ~0xFFF
        assert m.read_word(l1 + 4) & PTE_PERMS == PTE_V  # a pointer to the next level
        l2s.add(l2)
        ptes = {j: m.read_word(l2 + 4 * j) for j in range(1024) if m.read_word(l2 + 4 * j)}
        want = {j: PTE_V | PTE_R | PTE_X | PTE_U for j in range(text_pages)}
        want |= {text_pages + j: PTE_V | PTE_R | PTE_W | PTE_U for j in range(data_pages)}
        want[(USTACK_PAGE >> 12) & 0x3FF] = PTE_V | PTE_R | PTE_W | PTE_U
        assert {j: pte & PTE_PERMS for j, pte in ptes.items()} == want
        frames = {pte & ~0xFFF for pte in ptes.values()}
        assert not frames & seen_frames, "two processes share a frame"
        seen_frames |= frames
        # the private copies: the same code, and this process's own pid in its data page
        text = b"".join(m.read(ptes[j] & ~0xFFF, PAGE) for j in range(text_pages))
        assert text == user_text
        data = ptes[text_pages] & ~0xFFF
        assert m.read_word(data + s["my_pid"] - s["udata_start"]) == pid
    assert len(l2s) == len(NAMES)


@pytest.mark.nojit
def test_the_schedule_depends_on_the_quantum_but_the_results_do_not() -> None:
    fast_m, fast_r = run_kernel(**SMALL, QUANTUM=1500)
    slow_m, slow_r = run_kernel(**SMALL, QUANTUM=6000)
    fast = check_run(fast_m, fast_r, expect_idle=False, **SMALL, QUANTUM=1500)
    slow = check_run(slow_m, slow_r, expect_idle=False, **SMALL, QUANTUM=6000)
    assert fast["user_ticks"] > slow["user_ticks"]
    assert fast_m.console.output != slow_m.console.output


@pytest.mark.nojit
def test_same_run_on_a_non_strict_machine(small_run) -> None:
    """Bare metal: the kernel reads status in kernel mode only, so strict does not matter."""
    m, r = run_kernel(Machine(memory="4M", strict=False), **SMALL)
    assert m.console.output == small_run[0].console.output
    assert (r.reason, r.exit_code) == ("poweroff", 0)


@pytest.mark.nojit
def test_a_wrong_outcome_makes_the_exit_code_nonzero() -> None:
    """The power-off exit code counts the processes that did not end as the table says."""
    img = image(**SMALL)
    m = Machine(memory="4M")
    m.load(img)
    entry = img.symbols["programs"] + 1 * PROG_SIZE  # collatz: claim it should exit with 7
    m.write_word(entry + 12, 7)
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("poweroff", 1)
    out = m.console.output
    assert re.search(r"^\[kernel\] +2 collatz .* exit 0  <- UNEXPECTED$", out, re.M)
    assert out.endswith("[kernel] 1 processes did not end as expected\n[kernel] power off\n")


@pytest.mark.nojit
def test_a_kernel_fault_is_a_panic_not_a_user_kill() -> None:
    """The trap handler checks status.PMODE: a fault in kernel mode panics and powers off."""
    img = image(**SMALL)
    m = Machine(memory="4M")
    m.load(img)
    # make getpid's kernel code load from an unmapped user address
    at = img.symbols["sys_getpid"]
    patch = assemble("lui t0, 0x50\nlw a1, 0(t0)").segments[0].data
    m.write(at, patch)
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("poweroff", 100)
    last = m.console.output.splitlines()[-1]
    assert last == (
        f"[kernel] PANIC: load page fault in kernel mode at pc {at + 4:#010x}, tval 0x00500000"
    )
    assert "killed" not in m.console.output


@pytest.mark.nojit
def test_running_out_of_frames_is_a_clear_panic() -> None:
    """Frames come from the end of the kernel up to the end of RAM (the loader's sp) or MEM_TOP."""
    oom = "[kernel] PANIC: out of physical memory (give the machine more RAM)"
    top = frame_layout(image(**SMALL))["first_proc"] + 12 * PAGE  # room for two processes
    m, r = run_kernel(**SMALL, MEM_TOP=top)
    assert (r.reason, r.exit_code) == ("poweroff", 100)
    assert m.console.output.splitlines()[-1] == oom
    assert "created pid 2 " in m.console.output and "created pid 3 " not in m.console.output
    m, r = run_kernel(Machine(memory="128K"), **SMALL)  # a machine too small for 7 processes
    assert (r.reason, r.exit_code) == ("poweroff", 100)
    assert m.console.output.splitlines()[-1] == oom


# ---- the structure of the source -----------------------------------------------------------


def test_privileged_instructions_are_only_in_the_hal() -> None:
    """Every csr*, eret, wfi, tlbflush and halt of the kernel is in minikernel/hal.s, so that a
    paravirtualized HAL can replace them in one place. (rogue's halt is the user's, on purpose.)"""
    img = image()
    found: dict[str, set[str]] = {}
    for addr, (path, _line) in img.source_map.items():
        op = BY_OPCODE.get(img.word_at(addr) & 0xFF)
        if op is not None and op.privileged:
            found.setdefault(Path(path).name, set()).add(op.name)
    assert found.keys() == {"hal.s", "user.s"}
    assert found["hal.s"] == {"csrr", "csrw", "eret", "wfi", "tlbflush", "halt"}
    user_priv = [
        a
        for a, (p, _) in img.source_map.items()
        if Path(p).name == "user.s"
        and BY_OPCODE.get(img.word_at(a) & 0xFF) is not None
        and BY_OPCODE[img.word_at(a) & 0xFF].privileged
    ]
    assert user_priv == [img.symbols["rogue.halt"]]


def test_device_registers_are_only_touched_by_the_hal() -> None:
    """The device base addresses are used as pointers only in hal.s (vm.s maps them)."""
    folder = images.images_dir() / "minikernel"
    for path in folder.glob("*.s"):
        if path.name in ("hal.s", "vm.s"):
            continue
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert not re.search(r"\b(CONSOLE|TIMER|DISK|POWER)_BASE\b", code), path.name


def test_the_trap_entry_reads_status_before_anything_else() -> None:
    """hal_trap_entry must learn the previous mode from status.PMODE and branch on it."""
    img = image()
    at = img.symbols["hal_trap_entry"]
    words = [img.word_at(at + 4 * i) for i in range(4)]
    names = [BY_OPCODE[w & 0xFF].name for w in words]
    assert names == ["csrw", "csrr", "andi", "bne"]
    assert words[1] >> 16 == 0  # csrr t0, status (CSR number 0)
    assert words[2] >> 16 == 0x4  # andi t0, t0, ST_PMODE


def test_the_pv_build_swaps_one_file() -> None:
    """PV=1 selects minikernel/hal_pv.s instead of hal.s and changes nothing else: every other
    source line assembles to the same instructions (tests/test_paravirtual.py runs that build)."""
    pv, native = images.load("minikernel", PV=1), image()
    hal = {"hal.s", "hal_pv.s"}

    def kernel_lines(img) -> list[tuple[str, int, int]]:
        """(file, line, opcode) of every instruction outside the HAL, in address order (opcodes
        only: the HAL's size moves the addresses that the other fields encode)."""
        out = []
        for addr, (path, line) in sorted(img.source_map.items()):
            if Path(path).name not in hal:
                out.append((Path(path).name, line, img.word_at(addr) & 0xFF))
        return out

    assert kernel_lines(pv) == kernel_lines(native)
    files = {Path(p).name for p, _ in pv.source_map.values()}
    assert "hal_pv.s" in files and "hal.s" not in files


def trace_schedule(events: int, **defines: int) -> list[str]:
    """The first ``events`` scheduling events of a run (dispatch, trap, tick, kill) with their
    cycle, and the console lines as they appear: for reading the schedule, not for tests."""
    img = image(**defines)
    s = img.symbols
    m = Machine(memory="4M")
    m.load(img)
    labels = ("run", "trap_from_user", "tick", "kill")
    for label in labels:
        m.add_breakpoint(label)
    calls = ("exit", "write", "yield", "sleep", "getpid", "ticks")

    def pid(pcb: int) -> int:
        return (pcb - s["proc_table"]) // PCB_SIZE + 1

    out, shown = [], 0
    for _ in range(events):
        r = m.run(max_instructions=BUDGET)
        text = m.console.output
        out += [f"{'':>10}  | {line}" for line in text[shown:].splitlines()]
        shown = len(text)
        if r.reason != "breakpoint":
            out.append(str(r))
            break
        at = next(label for label in labels if s[label] == m.pc)
        a0, a1 = m.regs["a0"], m.regs["a1"]
        if at == "run":
            what = f"run pid {pid(a0)}"
        elif at == "trap_from_user" and a1 == 9:
            number = m.read_word(a0 + 16)
            name = calls[number] if number < len(calls) else number
            what = f"  pid {pid(a0)} syscall {name}"
        elif at == "trap_from_user":
            what = f"  pid {pid(a0)} trap, cause {a1:#x}"
        else:
            what = f"  {at}"
        out.append(f"{m.cycles:>10}  {what}")
    return out


def write_expected() -> None:
    """Write images/minikernel.expected from a default run (check the tests pass afterwards)."""
    m, r = run_kernel()
    check_run(m, r)
    path = images.source_path("minikernel").with_suffix(".expected")
    path.write_bytes(m.console.output_bytes)
    print(f"wrote {path}: {r}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-expected"]:
        write_expected()
    elif len(sys.argv) == 3 and sys.argv[1] == "--trace":
        print("\n".join(trace_schedule(int(sys.argv[2]))))
    else:
        sys.exit("usage: python tests/test_minikernel.py --write-expected | --trace EVENTS")
