"""Bad input to the bare-metal Machine: a clear error naming the problem, and nothing changed.

Each test comes from an audit finding: a value that used to be accepted silently (a breakpoint
at 2**63, ``True`` as an address, a saved state with ``stopped="halt"``), or refused only by a
raw error from deep inside (numpy's broadcasting, ``OverflowError`` from the jitted core) after
part of the machine had already changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest

from vmlab import Disk, Machine, assemble
from vmlab.core.layout import ST_BP, ST_NBP, ST_PC

COUNT = """
_start: li   a0, 7
loop:   addi a0, a0, -1
        bnez a0, loop
        halt
"""
OTHER = """
_start: li a0, 1
        li a0, 2
        li a0, 3
        halt
"""
# identity-maps the first 4 MiB with one superpage (level-1 table at 0x3000), then turns paging on
PAGING_ON = """
_start: li   t0, 0x3000
        li   t1, 0x0000000F      # superpage of frame 0: V R W X
        sw   t1, 0(t0)
        csrw ptbr, t0
        li   t0, 0x11            # kernel mode | paging on
        csrw status, t0
        nop
        halt
"""


def machine(source: str = COUNT) -> Machine:
    """A 64 KiB machine with ``source`` loaded."""
    m = Machine(memory="64K")
    m.load(assemble(source, filename="p.s"))
    return m


def fingerprint(m: Machine) -> tuple:
    """Everything a call could change: CPU, RAM, console, disk, image, stop, breakpoints, core."""
    s = m.save_state()
    return (
        m.strict,
        s["cpu"]["regs"].tobytes(),
        s["cpu"]["st"].tobytes(),  # (includes the core's own list of breakpoints)
        s["mem"].tobytes(),
        s["console"],
        None if s["disk"] is None else s["disk"].tobytes(),
        id(m.image),
        s["stopped"],
        s["breakpoint_stop"],
        m.breakpoints,
    )


def core_breakpoints(m: Machine) -> list[int]:
    """The breakpoints as the jitted core sees them."""
    n = int(m.cpu.st[ST_NBP])
    return sorted(int(a) for a in m.cpu.st[ST_BP : ST_BP + n])


# --- 1. breakpoints ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        (2**63, ValueError, r"breakpoint address 0x8000000000000000 is outside RAM \(0..0xffff\)"),
        (-4, ValueError, r"breakpoint address -0x4 is outside RAM"),
        (1 << 40, ValueError, r"breakpoint address 0x10000000000 is outside RAM"),
        (0x10000, ValueError, r"breakpoint address 0x10000 is outside RAM"),  # just past RAM
        (0xF0000000, ValueError, r"breakpoint address 0xf0000000 is outside RAM"),  # devices
        (4.5, TypeError, r"a breakpoint is a symbol name or an int address, not 4.5"),
        (4.0, TypeError, r"a breakpoint is a symbol name or an int address, not 4.0"),
        (True, TypeError, r"a breakpoint is a symbol name or an int address, not True"),
        (None, TypeError, r"a breakpoint is a symbol name or an int address, not None"),
        (b"loop", TypeError, r"a breakpoint is a symbol name or an int address, not b'loop'"),
    ],
)
def test_a_breakpoint_that_cannot_be_hit_is_refused_and_nothing_changes(
    where: object, error: type[Exception], message: str
) -> None:
    m = machine()
    loop = m.add_breakpoint("loop")
    before = fingerprint(m)
    with pytest.raises(error, match=message):
        m.add_breakpoint(where)
    assert fingerprint(m) == before
    assert m.breakpoints == core_breakpoints(m) == [loop]


def test_after_a_refused_breakpoint_the_core_and_the_list_stay_in_step() -> None:
    # add_breakpoint(2**63) used to store the address, then fail to give it to the core: reset,
    # load and restore_state raised OverflowError half-way, and the core went on stopping at a
    # breakpoint that remove_breakpoint had removed from the list
    m = machine()
    m.add_breakpoint("loop")
    with pytest.raises(ValueError, match="outside RAM"):
        m.add_breakpoint(2**63)
    m.remove_breakpoint("loop")
    assert m.breakpoints == core_breakpoints(m) == []
    m.reset()
    m.load(m.image)
    m.restore_state(m.save_state())
    result = m.run()
    assert (result.reason, result.exit_code) == ("halt", 0)


def test_breakpoint_symbols_and_numpy_ints_are_checked_like_addresses() -> None:
    m = machine(COUNT + ".equ ODD, 3\n.equ FAR, 0x20000\n")
    with pytest.raises(ValueError, match=r"breakpoint address 0x3 \(symbol 'ODD'\) is not 4-byte"):
        m.add_breakpoint("ODD")
    with pytest.raises(ValueError, match=r"0x20000 \(symbol 'FAR'\) is outside RAM"):
        m.add_breakpoint("FAR")
    assert m.add_breakpoint(np.int64(0x1004)) == 0x1004
    assert m.breakpoints == core_breakpoints(m) == [0x1004]


# --- 2. save_state / restore_state -------------------------------------------------------------
def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def mutate(state: dict) -> None:
        *outer, last = path
        for key in outer:
            state = state[key]
        state[last] = value

    return mutate


def _set_item(path: tuple, index: int, value: int) -> Callable[[dict], None]:
    def mutate(state: dict) -> None:
        arr = state
        for key in path:
            arr = arr[key]
        arr[index] = value

    return mutate


BAD_STATES = [
    ("no console", lambda s: s.pop("console"), ValueError, r"missing 'console'"),
    ("no image", lambda s: s.pop("image"), ValueError, r"missing 'image'"),
    ("extra key", _set(("bogus",), 1), ValueError, r"unknown 'bogus'"),
    (
        "mem short",
        lambda s: s.__setitem__("mem", s["mem"][:10]),
        ValueError,
        r"saved state\['mem'\] is a uint32 array of shape \(10,\), expected uint32 of shape",
    ),
    (
        "mem float64",
        lambda s: s.__setitem__("mem", s["mem"].astype(np.float64)),
        ValueError,
        r"saved state\['mem'\] is a float64 array",
    ),
    ("mem list", _set(("mem",), [1, 2, 3]), TypeError, r"\['mem'\] must be a numpy array"),
    (
        "regs list",
        _set(("cpu", "regs"), [0] * 17),
        TypeError,
        r"saved state\['cpu'\]\['regs'\] must be a numpy array, not list",
    ),
    (
        "register of 1<<40",
        _set_item(("cpu", "regs"), 4, 1 << 40),
        ValueError,
        r"\['cpu'\]\['regs'\] holds a value outside 0..0xffffffff",
    ),
    (
        "status of 1<<40",
        _set_item(("cpu", "st"), 0, 1 << 40),
        ValueError,
        r"\['cpu'\]\['st'\] has CSR status = 0x10000000000, out of range",
    ),
    ("st None", _set(("cpu", "st"), None), TypeError, r"\['cpu'\]\['st'\] must be a numpy array"),
    ("stopped 'halt'", _set(("stopped",), "halt"), TypeError, r"\['stopped'\] must be None or a"),
    ("strict 'no'", _set(("strict",), "no"), TypeError, r"\['strict'\] must be True or False"),
    ("memory_size '64K'", _set(("memory_size",), "64K"), TypeError, r"\['memory_size'\]"),
    ("output str", _set(("console", "output"), "x"), TypeError, r"\['output'\] must be bytes"),
    ("input int", _set(("console", "input"), 5), TypeError, r"\['input'\] must be bytes"),
    (
        "input too long",
        _set(("console", "input"), b"x" * 100_000),
        ValueError,
        r"\['console'\]\['input'\] holds 100000 bytes",
    ),
    ("dropped str", _set(("console", "dropped"), "x"), ValueError, r"\['dropped'\] must be an int"),
    (
        "a disk the machine lacks",
        _set(("disk",), np.zeros(512, np.uint8)),
        ValueError,
        r"disk does not match this machine's disk: state\['disk'\] holds a disk, this machine "
        r"has none",
    ),
    ("image str", _set(("image",), "p.s"), TypeError, r"\['image'\] must be a vmlab Image"),
    ("breakpoint_stop", _set(("breakpoint_stop",), "x"), ValueError, r"\['breakpoint_stop'\]"),
]


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [case[1:] for case in BAD_STATES],
    ids=[case[0] for case in BAD_STATES],
)
def test_restore_state_checks_the_whole_state_first_and_changes_nothing(
    mutate: Callable[[dict], None], error: type[Exception], message: str
) -> None:
    m = machine()
    m.step(3)
    saved = m.save_state()
    m.step(2)  # now the machine differs from ``saved`` in pc, registers, RAM and console
    m.write(0x100, b"NEW!")
    m.console.feed("zz")
    bad = copy.deepcopy(saved)
    mutate(bad)
    before = fingerprint(m)
    with pytest.raises(error, match=message):
        m.restore_state(bad)
    assert fingerprint(m) == before
    m.restore_state(saved)  # the good state still restores
    assert m.pc == saved["cpu"]["st"][ST_PC] and m.read(0x100, 4) == b"\0\0\0\0"


@pytest.mark.parametrize("state", [None, "x", {}, []])
def test_restore_state_of_something_else_says_what_it_takes(state: object) -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises((TypeError, ValueError), match=r"save_state\(\)"):
        m.restore_state(state)  # type: ignore[arg-type]
    assert fingerprint(m) == before


def test_a_saved_state_carries_its_image() -> None:
    m = machine()
    m.step(3)
    saved = m.save_state()
    expected = m.run()

    fresh = Machine(memory="64K")  # used to refuse run(): "no program is loaded"
    fresh.restore_state(saved)
    assert fresh.image is m.image
    assert fresh.describe_address(fresh.pc) == "0x00001004 (loop, p.s:3)"
    result = fresh.run()
    assert (result.reason, result.exit_code, result.instructions) == (
        expected.reason,
        expected.exit_code,
        expected.instructions,
    )
    assert result.message == expected.message

    other = machine(OTHER)  # used to keep its own image: wrong symbols, and reset ran OTHER
    other.restore_state(saved)
    assert other.describe_address(other.pc) == "0x00001004 (loop, p.s:3)"
    other.reset()
    assert other.run().instructions == 16  # COUNT from the start, not OTHER's 4


# --- 3. memory access ---------------------------------------------------------------------------
def test_memory_addresses_and_lengths_are_ints_and_numpy_ints_do_not_wrap() -> None:
    m = machine()
    m.write(0x70, bytes(range(16)))
    # np.int8(120) + 10 wrapped to -126 and read 65290 bytes; np.uint8(250) + 10 read none
    assert m.read(np.int8(0x70), 10) == bytes(range(10))
    assert m.read(np.uint8(250), 10) == bytes(10)
    m.write(np.int8(120), b"x" * 10)
    assert m.read(120, 10) == b"x" * 10
    before = fingerprint(m)
    for call, message in [
        (lambda: m.read(1.5, 4), "addr must be an int, not 1.5"),
        (lambda: m.read("0", 4), "addr must be an int, not '0'"),
        (lambda: m.read(True, 4), "addr must be an int, not True"),
        (lambda: m.read(0, 2.5), "n must be an int, not 2.5"),
        (lambda: m.read(0, True), "n must be an int, not True"),
        (lambda: m.write(None, b"x"), "addr must be an int, not None"),
        (lambda: m.write(True, b"x"), "addr must be an int, not True"),
        (lambda: m.read_word(4.0), "addr must be an int, not 4.0"),
        (lambda: m.write_word(True, 1), "addr must be an int, not True"),
    ]:
        with pytest.raises(TypeError, match=message):
            call()
    with pytest.raises(ValueError, match="n must be >= 0, not -1"):
        m.read(0, -1)
    assert fingerprint(m) == before


@pytest.mark.parametrize(
    "data", ["hello", 5, None, [1, 2, 3], np.array([1, 2], np.uint32)], ids=repr
)
def test_write_takes_bytes_like_data_only(data: object) -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises(TypeError, match=r"data must be bytes, bytearray or memoryview, not \w+"):
        m.write(0x100, data)  # type: ignore[arg-type]
    assert fingerprint(m) == before
    m.write(0x100, bytearray(b"ab"))
    m.write(0x102, memoryview(b"cd"))
    assert m.read(0x100, 4) == b"abcd"


def test_write_word_needs_an_aligned_address_and_an_int_value() -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises(ValueError, match="address 0x2 is not 4-byte aligned"):
        m.write_word(2, 0xAABBCCDD)  # used to write across two words
    for value in ["5", 3.7, True, None, np.float64(2.0)]:
        with pytest.raises(TypeError, match=r"write_word value takes an int, not "):
            m.write_word(0x100, value)  # type: ignore[arg-type]
    assert fingerprint(m) == before
    m.write_word(0x100, np.int64(-2))  # ints keep their low 32 bits, as registers do
    assert m.read_word(0x100) == 0xFFFFFFFE


# --- 4. translate / describe_address -------------------------------------------------------------
def test_translate_takes_a_32_bit_int_with_paging_off_and_on() -> None:
    m = machine(PAGING_ON)
    for pg in ("off", "on"):
        if pg == "on":
            assert m.run().reason == "halt" and m.csr("status") & 0x10
        with pytest.raises(TypeError, match="virtual address must be an int, not '0x1000'"):
            m.translate("0x1000")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="virtual address must be an int, not True"):
            m.translate(True)
        # paging on, -4096 used to read the word below the page table; off, it came back as is
        for va in (-1, -4096, 1 << 40):
            with pytest.raises(ValueError, match="outside the 32-bit address space"):
                m.translate(va)
        assert m.translate(0x1000) == 0x1000
        assert m.translate(np.uint32(0x2004)) == 0x2004


def test_describe_address_takes_a_32_bit_int() -> None:
    m = machine()
    with pytest.raises(TypeError, match=r"address must be an int, not 1\.5"):
        m.describe_address(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"address -0x1 is outside the 32-bit address space"):
        m.describe_address(-1)
    assert m.describe_address(np.int64(0x1004)) == "0x00001004 (loop, p.s:3)"


# --- 5. pc, run and step --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3.5, "0x1000", None, True, float("nan")], ids=repr)
def test_pc_takes_an_int(value: object) -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises(TypeError, match="pc takes an int, not "):
        m.pc = value  # type: ignore[assignment]
    assert fingerprint(m) == before
    m.pc = np.int64(0x1008)
    assert m.pc == 0x1008


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_instructions": "10"}, "max_instructions must be an int, not '10'"),
        ({"max_instructions": 1.5}, "max_instructions must be an int, not 1.5"),
        ({"max_instructions": True}, "max_instructions must be an int, not True"),
        ({"max_instructions": float("nan")}, "max_instructions must be an int, not nan"),
        ({"max_cycles": float("inf")}, "max_cycles must be an int, not inf"),
        ({"max_cycles": 2.5}, "max_cycles must be an int, not 2.5"),
    ],
    ids=repr,
)
def test_run_budgets_are_ints(kwargs: dict, message: str) -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises(TypeError, match=message):
        m.run(**kwargs)
    assert fingerprint(m) == before and m.instructions == 0


def test_a_budget_too_large_for_the_core_means_no_limit() -> None:
    m = machine()
    result = m.run(max_cycles=1 << 63)  # used to raise OverflowError from the jitted call
    assert (result.reason, result.instructions) == ("halt", 16)
    m.reset()
    assert m.run(max_instructions=1 << 70, max_cycles=1 << 70).instructions == 16


def test_step_count_is_an_int_and_errors_name_count() -> None:
    m = machine()
    before = fingerprint(m)
    with pytest.raises(TypeError, match=r"count must be an int >= 0, not None"):
        m.step(None)  # type: ignore[arg-type]  # used to run to the end
    with pytest.raises(ValueError, match="count must be >= 0, not -1"):
        m.step(-1)
    for count in (1.7, "3", True):
        with pytest.raises(TypeError, match=f"count must be an int, not {count!r}"):
            m.step(count)  # type: ignore[arg-type]
    assert fingerprint(m) == before
    assert m.step(np.uint8(2)).instructions == 2


# --- 6. the disk ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "disk", ["file.img", b"\0" * 512, True, np.zeros(512, np.uint8)], ids=lambda d: type(d).__name__
)
def test_a_machine_disk_must_be_a_vmlab_disk(disk: object) -> None:
    with pytest.raises(
        TypeError,
        match=r"disk must be a vmlab Disk: Disk.memory\(size\), Disk.from_bytes\(data\) or "
        r"Disk.file\(path\), not \w+",
    ):
        Machine(memory="64K", disk=disk)  # type: ignore[arg-type]
    assert Machine(memory="64K", disk=Disk.memory(512)).disk is not None


# --- 7. registers, CSRs and the constructor --------------------------------------------------------
def test_in_tests_register_names_and_numbers_not_values() -> None:
    m = machine()
    m.regs["a1"] = 12345
    assert "a0" in m.regs and "A0" in m.regs and "fp" in m.regs and "r15" in m.regs
    assert 0 in m.regs and 15 in m.regs and np.int64(4) in m.regs
    # membership used to search the values: 12345 and sp's 0x10000 were "in" the registers
    for key in ("pc", "x4", "", 16, -1, 12345, 0x10000, True, 3.0, None):
        assert key not in m.regs, key


def test_csr_names_in_any_case_and_numbers_only_as_ints() -> None:
    m = machine()
    m.run()
    assert m.csr("STATUS") == m.csr("Status") == m.csr("status") == m.csr(np.int64(0))
    assert m.csr("INSTRET") == 16
    for bad in (1.0, None, "status "):
        with pytest.raises(KeyError, match=f"no CSR {bad!r}; known: status"):
            m.csr(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("strict", ["no", None, 1, np.True_], ids=repr)
def test_strict_must_be_a_bool(strict: object) -> None:
    with pytest.raises(TypeError, match="strict must be True or False, not "):
        Machine(memory="64K", strict=strict)  # type: ignore[arg-type]
    assert Machine(memory="64K", strict=False).strict is False
