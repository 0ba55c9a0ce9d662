"""Golden tests for the guest programs in ``images/`` and their loader ``vmlab.images``.

Every expected output here comes from a Python reference computation in this file (the functions
``ref_*``), never from the emulator: the reference counts the primes, sorts with ``sorted``, takes
the CRC with ``zlib.crc32``, multiplies with numpy and spells out what the machine must do with
each of rogue's attempts from docs/machine.md. The ``images/NAME.expected`` files hold the reference
output at each image's default sizes; after changing a program's output on purpose, rewrite them
with ``python tests/test_images.py --write-expected``.

Tests marked ``nojit`` use small sizes (``SMALL``) so that they also run in the pure-Python
reference mode (``NUMBA_DISABLE_JIT=1 pytest -m nojit``).
"""

from __future__ import annotations

import importlib.resources
import os
import re
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vmlab import Machine, RunResult, assemble, images
from vmlab.devices.disk import Disk
from vmlab.isa.arch import (
    CAUSE_ACCESS_FAULT,
    CAUSE_ILLEGAL,
    CAUSE_MISALIGNED_FETCH,
    CAUSE_MISALIGNED_LOAD,
    CAUSE_MISALIGNED_STORE,
    CAUSE_NAMES,
    CAUSE_PRIVILEGED,
    CSR_NUMBERS,
    PAGE_SIZE,
    REG_ALIASES,
    ST_PG,
    WALK_REF_CYCLES,
)
from vmlab.isa.table import OPCODE

M32 = 0xFFFFFFFF
MIB = 1024 * 1024
PROGRAMS = ("hello", "fib", "sieve", "sort", "matmul", "crc32", "rogue")
COMPUTE = ("fib", "sieve", "sort", "matmul", "crc32")  # the benchmark workloads
BUDGET = 50_000_000  # far above any default run: a program that loops forever ends as "budget"


# ---- reference computations ----------------------------------------------------------------


def lcg(seed: int):
    """The generator of images/lib/rand.s: state = state * 1664525 + 1013904223 (mod 2^32)."""
    x = seed & M32
    while True:
        x = (x * 1664525 + 1013904223) & M32
        yield x


def signed32(x: int) -> int:
    """A 32-bit pattern as a signed number."""
    x &= M32
    return x - (1 << 32) if x & 0x80000000 else x


def checksum31(values) -> int:
    """h = h * 31 + v (mod 2^32), the order-dependent checksum the programs print."""
    h = 0
    for v in values:
        h = (h * 31 + int(v)) & M32
    return h


def ref_hello() -> str:
    """hello.s prints a fixed greeting."""
    return "Hello, world! This is a VL32 machine.\nOK\n"


def ref_fib(N: int) -> str:
    """fib.s: fib(N) modulo 2^32."""
    a, b = 0, 1
    for _ in range(N):
        a, b = b, (a + b) & M32
    return f"fib({N}) = {a}\nOK\n"


def primes_below(n: int) -> int:
    """The number of primes below n (a plain sieve)."""
    if n < 3:
        return 0
    flags = bytearray([1]) * n
    flags[0] = flags[1] = 0
    for p in range(2, int(n**0.5) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(range(p * p, n, p)))
    return sum(flags)


def ref_sieve(N: int, PAGING: int, memory: int = 4 * MIB) -> str:
    """sieve.s: the prime count; with PAGING it first reports how many pages it mapped."""
    head = f"sieve: paging on, {memory // 4096} pages identity-mapped\n" if PAGING else ""
    return f"{head}sieve: {primes_below(N)} primes below {N}\nOK\n"


def ref_sort(N: int, SEED: int) -> str:
    """sort.s: checksum of the sorted LCG numbers."""
    gen = lcg(SEED)
    values = sorted(next(gen) for _ in range(N))
    return f"sort: {N} numbers, checksum 0x{checksum31(values):08x}\nOK\n"


def ref_matmul(N: int, SEED: int) -> str:
    """matmul.s: checksum and sum of A * B, with A then B filled from the LCG's signed top byte."""
    gen = lcg(SEED)
    numbers = [signed32(next(gen)) >> 24 for _ in range(2 * N * N)]
    a = np.array(numbers[: N * N], dtype=np.int64).reshape(N, N)
    b = np.array(numbers[N * N :], dtype=np.int64).reshape(N, N)
    c = a @ b
    h = checksum31(int(v) & M32 for v in c.flat)
    total = signed32(int(c.sum()))
    return f"matmul: {N}x{N}, checksum 0x{h:08x}, sum {total}\nOK\n"


def ref_crc32(LEN: int, SEED: int) -> str:
    """crc32.s: zlib's CRC-32 of the check string, of LCG bytes, and of those bytes + their CRC."""
    gen = lcg(SEED)
    data = bytes(next(gen) >> 24 for _ in range(LEN))
    crc = zlib.crc32(data)
    residue = zlib.crc32(data + crc.to_bytes(4, "little"))
    return (
        f'crc32("123456789") = 0x{zlib.crc32(b"123456789"):08x}\n'
        f"crc32({LEN} random bytes) = 0x{crc:08x}\n"
        f"crc32(bytes + crc) = 0x{residue:08x}\n"
        "OK\n"
    )


def encode_i(name: str, rd: int = 0, rs1: int = 0, imm: int = 0) -> int:
    """An I-format (or operand-less) instruction word, from the layout in vmlab/isa/table.py."""
    return OPCODE[name] | rd << 8 | rs1 << 12 | (imm & 0xFFFF) << 16


def ref_rogue(SPIN: int, memory: int = 4 * MIB, strict: bool = True, disk_sectors: int = 0) -> str:
    """rogue.s: the log of its attempts, from what docs/machine.md says the machine must do."""

    def trap(cause: int, tval: int) -> str:
        return f"caught {CAUSE_NAMES[cause]}, tval=0x{tval:08x}"

    none = "no trap"
    t0 = REG_ALIASES["t0"]
    # (description, what the attempt expects, what the machine does)
    attempts: list[tuple[str, str, str]] = []

    def attempt(text: str, expect: str, actual: str | None = None) -> None:
        attempts.append((text, expect, expect if actual is None else actual))

    attempt("read the last word of RAM", none)
    attempt("read just past the end of RAM", trap(CAUSE_ACCESS_FAULT, memory))
    attempt("write far beyond RAM", trap(CAUSE_ACCESS_FAULT, 0x80000000))
    attempt("jump to an address with no memory", trap(CAUSE_ACCESS_FAULT, 0x40000000))
    attempt("byte store to the console TX register", trap(CAUSE_ACCESS_FAULT, 0xF0000000))
    attempt("write an unused console offset", trap(CAUSE_ACCESS_FAULT, 0xF0000100))
    attempt("write past the last device", trap(CAUSE_ACCESS_FAULT, 0xF0004000))
    attempt("read an unused disk offset", trap(CAUSE_ACCESS_FAULT, 0xF0002018))
    attempt("write garbage to the power controller", none)
    attempt("write the read-only timer counter", none)
    attempt("execute device registers", trap(CAUSE_ACCESS_FAULT, 0xF0000000))
    first = attempts[:]
    attempts.clear()
    # user mode: every privileged instruction traps with its own word in tval
    priv = trap(CAUSE_PRIVILEGED, encode_i("csrw", imm=CSR_NUMBERS["tvec"]))
    attempt("user mode: csrw tvec", priv)
    csrr = trap(CAUSE_PRIVILEGED, encode_i("csrr", rd=t0, imm=CSR_NUMBERS["status"]))
    attempt("user mode: csrr status", csrr, csrr if strict else none)  # sensitive, unprivileged
    for name in ("halt", "wfi", "tlbflush", "eret"):
        attempt(f"user mode: {name}", trap(CAUSE_PRIVILEGED, OPCODE[name]))
    attempt("user mode: write a device register (paging is off)", none)
    attempt("execute the word 0xffffffff", trap(CAUSE_ILLEGAL, 0xFFFFFFFF))
    attempt("execute add with a reserved bit set", trap(CAUSE_ILLEGAL, 0x00100001))
    attempt("write the read-only cycle CSR", trap(CAUSE_ILLEGAL, encode_i("csrw", imm=11)))
    attempt("hcall without a hypervisor", trap(CAUSE_ILLEGAL, OPCODE["hcall"]))
    attempt("load a word from 0x1002", trap(CAUSE_MISALIGNED_LOAD, 0x1002))
    attempt("store a word to 0x1001", trap(CAUSE_MISALIGNED_STORE, 0x1001))
    attempt("jump to 0x1002", trap(CAUSE_MISALIGNED_FETCH, 0x1002))
    second = attempts[:]

    def log(rows: list[tuple[str, str, str]]) -> list[str]:
        out = []
        for text, expect, actual in rows:
            out.append(f"{text}: {actual}\n")
            if actual != expect:
                out.append("  ^ SURPRISE: not what this attempt expected\n")
        return out

    # the disk refuses a bad command first, then anything when there is no disk
    status_names = ["ok", "bad sector", "bad address", "bad command", "no disk"]

    def disk(text: str, status: int) -> str:
        if disk_sectors == 0 and status != 3:
            status = 4
        return f"{text}: disk status {status} ({status_names[status]})\n"

    disk_lines = [
        f"disk: {disk_sectors} sectors\n",
        disk("disk command 7", 3),
        disk("disk read of sector 0xffffff00", 1),
        disk("disk read into the first byte after RAM", 2),
        disk("disk write from the console's registers", 2),
        disk("disk read into the middle of this program", 2),
    ]
    rows = first + second
    surprises = sum(expect != actual for _, expect, actual in rows)
    ending = "spinning forever" if SPIN else "halting"
    return "".join(
        [
            "rogue: trying to break out of the machine\n",
            *log(first),
            *disk_lines,
            *log(second),
            f"rogue: {len(rows)} attempts, {surprises} surprises\n",
            f"rogue: the machine held; {ending}\n",
        ]
    )


REFERENCES: dict[str, Callable[..., str]] = {
    "hello": ref_hello,
    "fib": ref_fib,
    "sieve": ref_sieve,
    "sort": ref_sort,
    "matmul": ref_matmul,
    "crc32": ref_crc32,
    "rogue": ref_rogue,
}

# sizes small enough for the pure-Python reference mode (a few 10k instructions each)
SMALL: dict[str, dict[str, int]] = {
    "hello": {},
    "fib": {"N": 12},
    "sieve": {"N": 1000},
    "sort": {"N": 200},
    "matmul": {"N": 6},
    "crc32": {"LEN": 300},
    "rogue": {"SPIN": 0},
}


def source_defaults(name: str) -> dict[str, int]:
    """The ``.default NAME, value`` settings written in an image's source."""
    text = images.source_path(name).read_text()
    found = re.findall(r"^\s*\.default\s+(\w+)\s*,\s*(\w+)", text, re.MULTILINE)
    return {key: int(value, 0) for key, value in found}


def reference(name: str, **defines: int) -> str:
    """What image ``name`` must print with ``defines`` over its source defaults (4 MiB machine)."""
    return REFERENCES[name](**{**source_defaults(name), **defines})


def run_image(
    name: str,
    budget: int = BUDGET,
    machine: Machine | None = None,
    **defines: int,
) -> tuple[Machine, RunResult]:
    """Load and run an image on a fresh 4 MiB machine (or the one given)."""
    m = machine if machine is not None else Machine(memory="4M")
    m.load(images.load(name, **defines))
    return m, m.run(max_instructions=budget)


# ---- the loader ----------------------------------------------------------------------------


def test_names_lists_every_program_and_nothing_from_lib() -> None:
    found = images.names()
    assert set(PROGRAMS) <= set(found)
    assert found == sorted(found)
    assert not {"console", "vl32", "rand"} & set(found)


def test_unknown_image_names_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown image 'nope'.*crc32.*sieve"):
        images.load("nope")
    with pytest.raises(ValueError, match="unknown image"):
        images.source_path("lib/console")  # shared routines are not images
    with pytest.raises(ValueError, match="unknown image"):
        images.source_path("../images/fib")


def test_source_path_and_expected_output() -> None:
    assert images.source_path("fib") == images.images_dir() / "fib.s"
    assert images.expected_output("fib").startswith("fib(")


def test_expected_output_missing_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "bare.s").write_text("_start: halt\n")
    monkeypatch.setattr(images, "images_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match=r"'bare' has no expected output file"):
        images.expected_output("bare")


def test_load_is_memoised_per_name_and_defines() -> None:
    # each call returns its own copy, but the assembled segments are reused, not reassembled
    first, again = images.load("fib", N=5), images.load("fib", N=5)
    assert first is not again and first == again and first.segments is again.segments
    assert images.load("fib", N=5).segments is not images.load("fib", N=6).segments
    assert images.load("fib", N=5).segments is not images.load("sieve", N=5).segments


def test_load_rejects_non_integer_defines() -> None:
    with pytest.raises(TypeError, match="N='3' must be an int"):
        images.load("fib", N="3")
    with pytest.raises(TypeError, match="must be an int"):
        images.load("fib", N=True)


def test_load_notices_an_edited_source(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(images, "images_dir", lambda: tmp_path)
    src = tmp_path / "p.s"
    src.write_text("_start: li a0, 1\n halt\n")
    first = images.load("p")
    src.write_text("_start: li a0, 2\n nop\n halt\n")
    later = src.stat().st_mtime_ns + 1_000_000
    os.utime(src, ns=(later, later))
    assert images.load("p") is not first
    assert len(images.load("p").segments[0].data) == 12


def test_images_dir_prefers_the_installed_copy(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "_images").mkdir()
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    assert images.images_dir() == tmp_path / "_images"


def test_images_dir_falls_back_to_the_checkout(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)  # no _images
    assert images.images_dir() == Path(images.__file__).resolve().parents[1] / "images"
    assert (images.images_dir() / "lib" / "console.s").is_file()


@pytest.mark.parametrize("name", images.names())
def test_every_image_assembles(name: str) -> None:
    image = images.load(name)
    assert image.entry == image.symbols["_start"]
    assert image.segments


# ---- the reference computations and the expected files ------------------------------------


def test_reference_computations_agree_with_known_values() -> None:
    assert primes_below(1_000_000) == 78498  # pi(10^6)
    assert primes_below(100) == 25
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert ref_fib(10) == "fib(10) = 55\nOK\n"
    assert ref_fib(48).startswith(f"fib(48) = {4807526976 & M32}\n")  # wraps like the guest
    assert list(zip(range(2), lcg(1), strict=False)) == [(0, 1015568748), (1, 1586005467)]


@pytest.mark.parametrize("name", PROGRAMS)
def test_expected_file_is_the_reference_output(name: str) -> None:
    assert images.expected_output(name) == reference(name)


def test_expected_numbers() -> None:
    # the headline numbers, written out: a change in a default size shows up here first
    assert "sieve: 78498 primes below 1000000\nOK\n" == images.expected_output("sieve")
    assert images.expected_output("crc32").startswith('crc32("123456789") = 0xcbf43926\n')
    assert "crc32(bytes + crc) = 0x2144df1c\n" in images.expected_output("crc32")
    assert images.expected_output("fib") == "fib(27) = 196418\nOK\n"


# ---- running the images (JIT, default sizes) ------------------------------------------------


_default_runs: dict[str, tuple[Machine, RunResult]] = {}


def default_run(name: str) -> tuple[Machine, RunResult]:
    """Run an image at its default sizes once per test session (the runs take ~1 s each)."""
    if name not in _default_runs:
        _default_runs[name] = run_image(name)
    return _default_runs[name]


@pytest.mark.parametrize("name", [p for p in PROGRAMS if p != "rogue"])
def test_default_run_prints_the_expected_output(name: str) -> None:
    m, r = default_run(name)
    assert (r.reason, r.exit_code) == ("halt", 0), r.message
    assert m.console.output == images.expected_output(name)


@pytest.mark.parametrize("name", COMPUTE)
def test_default_sizes_are_benchmark_sized(name: str) -> None:
    _, r = default_run(name)
    assert r.reason == "halt"
    assert 2_000_000 <= r.instructions <= 20_000_000, r.instructions


def test_expected_output_differs_for_other_sizes() -> None:
    # the comparison is sensitive: another size gives another output, which would fail the test
    m, _ = run_image("sort", N=1000)
    assert m.console.output != images.expected_output("sort")
    assert m.console.output == reference("sort", N=1000)


def test_sieve_with_paging_gives_the_same_count() -> None:
    plain, r0 = default_run("sieve")
    paged, r1 = run_image("sieve", PAGING=1)
    assert (r1.reason, r1.exit_code) == ("halt", 0)
    assert paged.console.output == reference("sieve", PAGING=1)
    assert paged.console.output.endswith(plain.console.output)
    assert paged.csr("status") & ST_PG  # it really ran translated
    assert plain.csr("status") & ST_PG == 0
    flag_pages = 1_000_000 // PAGE_SIZE
    # at least one walk per page of the 1 MB of flags, and not many more: the ~250 pages the
    # program uses fit in the set-associative TLB (a 64-entry direct-mapped one took ~111,000)
    assert flag_pages < paged.stats.tlb_misses < 2 * flag_pages
    assert plain.stats.tlb_misses == 0
    # the identity map uses level-2 tables, so every walk reads two levels
    assert paged.stats.walk_refs == 2 * paged.stats.tlb_misses
    # the same sieve, plus the page-table setup and every walk reference (docs/machine.md)
    assert r1.cycles - r0.cycles >= WALK_REF_CYCLES * paged.stats.walk_refs


def test_sieve_paging_maps_all_of_a_larger_ram() -> None:
    m, r = run_image("sieve", machine=Machine(memory="8M"), N=10_000, PAGING=1)
    assert (r.reason, r.exit_code) == ("halt", 0)
    assert m.console.output == ref_sieve(10_000, 1, memory=8 * MIB)


def test_rogue_logs_every_attempt_and_keeps_spinning() -> None:
    m, r = run_image("rogue", budget=2_000_000)
    assert r.reason == "budget"
    assert m.console.output == images.expected_output("rogue")
    spin = images.load("rogue").symbols["spin"]
    assert m.pc == spin  # the tight loop at the end: one instruction jumping to itself
    r = m.run(max_instructions=1000)
    assert (r.reason, r.instructions, m.pc) == ("budget", 1000, spin)


def test_rogue_with_a_disk_shows_the_disk_errors() -> None:
    disk = Disk.memory(64 * 512)
    disk.data[:] = 0xAB  # a read that wrongly succeeded would copy this into RAM
    m, r = run_image("rogue", machine=Machine(memory="4M", disk=disk), SPIN=0)
    assert (r.reason, r.exit_code) == ("halt", 0)
    assert m.console.output == reference("rogue", SPIN=0, disk_sectors=64)
    assert b"\xab\xab\xab\xab" not in m.read(0, 4 * MIB)  # no DMA happened


def test_rogue_sees_the_sensitive_instruction_when_not_strict() -> None:
    m, r = run_image("rogue", machine=Machine(memory="4M", strict=False), SPIN=0)
    assert (r.reason, r.exit_code) == ("halt", 1)  # one surprise
    assert m.console.output == reference("rogue", SPIN=0, strict=False)
    assert "user mode: csrr status: no trap\n  ^ SURPRISE" in m.console.output


# ---- self-checks inside the programs can fail -------------------------------------------------


def patch_word(m: Machine, image_name: str, label: str, source: str, **defines: int) -> None:
    """Overwrite the instruction at ``label`` with one assembled from ``source``."""
    addr = images.load(image_name, **defines).symbols[label]
    m.write(addr, assemble(source).segments[0].data[:4])


@pytest.mark.nojit
def test_fib_self_check_catches_a_wrong_loop() -> None:
    m = Machine(memory="4M")
    m.load(images.load("fib", N=12))
    patch_word(m, "fib", "fib_loop", "li t0, 1", N=12)  # the loop now starts from fib(1)
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("halt", 1)
    assert m.console.output == "fib(12) = 144\nFAIL: the loop says 233\n"


@pytest.mark.nojit
def test_sieve_self_check_compares_with_pi() -> None:
    m = Machine(memory="4M")
    m.load(images.load("sieve", N=1000))
    known = images.load("sieve", N=1000).symbols["known"]
    m.write(known + 2 * 8 + 4, (167).to_bytes(4, "little"))  # claim pi(1000) = 167
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("halt", 1)
    assert m.console.output == "sieve: 168 primes below 1000\nFAIL: expected 167\n"


@pytest.mark.nojit
def test_sort_self_check_catches_an_unsorted_array() -> None:
    m = Machine(memory="4M")
    m.load(images.load("sort", N=200))
    patch_word(m, "sort", "quicksort", "ret", N=200)  # a sort that does nothing
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("halt", 1)
    assert m.console.output.endswith("FAIL: not sorted\n")


@pytest.mark.nojit
def test_crc32_self_check_catches_a_wrong_table() -> None:
    m = Machine(memory="4M")
    m.load(images.load("crc32", LEN=300))
    patch_word(m, "crc32", "make_table", "ret", LEN=300)  # leave the table all zero
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("halt", 1)
    assert m.console.output.startswith('crc32("123456789") = 0x')
    assert "0xcbf43926" not in m.console.output
    assert m.console.output.endswith("FAIL\n")


@pytest.mark.nojit
def test_matmul_self_check_catches_a_wrong_product() -> None:
    m = Machine(memory="4M")
    m.load(images.load("matmul", N=6))
    patch_word(m, "matmul", "dot", "lw t3, 4(t0)", N=6)  # read A[i][k+1] instead of A[i][k]
    r = m.run(max_instructions=BUDGET)
    assert (r.reason, r.exit_code) == ("halt", 1)
    assert "FAIL: column/row sums give " in m.console.output


# ---- small sizes, also in the pure-Python reference mode -------------------------------------


@pytest.mark.nojit
@pytest.mark.parametrize("name", PROGRAMS)
def test_small_run_matches_the_reference(name: str) -> None:
    m, r = run_image(name, **SMALL[name])
    assert (r.reason, r.exit_code) == ("halt", 0), r.message
    assert m.console.output == reference(name, **SMALL[name])


@pytest.mark.nojit
def test_small_sieve_with_paging() -> None:
    m, r = run_image("sieve", N=1000, PAGING=1)
    assert (r.reason, r.exit_code) == ("halt", 0)
    assert m.console.output == reference("sieve", N=1000, PAGING=1)


@pytest.mark.nojit
def test_console_library_prints_numbers() -> None:
    source = """
        .include "lib/vl32.s"
    _start:
        li a0, 0
        call put_dec
        call newline
        li a0, 4294967295
        call put_dec
        call newline
        li a0, -2147483648
        call put_int
        call newline
        li a0, -7
        call put_int
        call newline
        li a0, 0xCAFE09AF
        call put_hex
        li a0, ' '
        call putc
        li a0, 0
        call put_hex
        call newline
        li a0, 0
        halt
        .include "lib/console.s"
    """
    m = Machine(memory="1M")
    m.load(assemble(source, include_dirs=[images.images_dir()]))
    r = m.run(max_instructions=100_000)
    assert (r.reason, r.exit_code) == ("halt", 0)
    assert m.console.output == "0\n4294967295\n-2147483648\n-7\n0xcafe09af 0x00000000\n"


def write_expected() -> None:
    """Write images/NAME.expected from the reference computations (default sizes)."""
    for name in PROGRAMS:
        path = images.source_path(name).with_suffix(".expected")
        path.write_bytes(reference(name).encode("utf-8"))
        print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-expected"]:
        sys.exit("usage: python tests/test_images.py --write-expected")
    write_expected()
