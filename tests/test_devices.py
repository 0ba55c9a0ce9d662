"""The devices (docs/machine.md "Devices"): console, timer, disk and power controller.

Programs address the devices with the register offsets of vmlab/devices/memmap.py; a device
register is a word, and a byte or half-word access to it is an access fault.
"""

from __future__ import annotations

import pytest
from conftest import M32, ORG, halted, load_asm, run_asm

from vmlab import Machine, MachineError, assemble
from vmlab.devices.disk import Disk
from vmlab.devices.memmap import (
    CONSOLE_BASE,
    DISK_BAD_ADDR,
    DISK_BAD_CMD,
    DISK_BAD_SECTOR,
    DISK_BASE,
    DISK_IRQ_PENDING,
    DISK_NONE,
    DISK_OK,
    DISK_SECTOR_CYCLES,
    POWER_BASE,
    SECTOR_SIZE,
    TIMER_BASE,
)
from vmlab.isa.arch import (
    CAUSE_ACCESS_FAULT,
    CAUSE_CONSOLE_INTERRUPT,
    CAUSE_DISK_INTERRUPT,
    ST_IE,
    ST_MODE,
)
from vmlab.isa.table import BY_NAME

DEVICES = f"""
        .equ CON, {CONSOLE_BASE:#x}
        .equ TMR, {TIMER_BASE:#x}
        .equ DSK, {DISK_BASE:#x}
        .equ PWR, {POWER_BASE:#x}
"""
HANDLER = """
trap:   csrr a0, cause
        csrr a1, epc
        csrr a2, tval
        halt
"""


def program(body: str) -> str:
    """``body`` after the device constants, with HANDLER as the trap vector."""
    return f"{DEVICES}\n_start: la t0, trap\n csrw tvec, t0\n{body}\n{HANDLER}"


# --- console ---------------------------------------------------------------------------------------
def test_console_tx_prints_a_byte():
    m = halted(program("li s0, CON\n li t0, 'h'\n sw t0, 0(s0)\n li t0, 'i'\n sw t0, 0(s0)\n halt"))
    assert m.console.output == "hi"


def test_console_tx_sends_only_the_low_byte():
    m = halted(program("li s0, CON\n li t0, 0x1241\n sw t0, 0(s0)\n halt"))
    assert m.console.output_bytes == b"A"


def test_console_output_keeps_raw_bytes_and_decodes_with_replacement():
    m = halted(
        program("li s0, CON\n li t0, 0xFF\n sw t0, 0(s0)\n li t0, 'x'\n sw t0, 0(s0)\n halt")
    )
    assert m.console.output_bytes == b"\xffx"
    assert m.console.output == "\ufffdx"


def test_console_output_larger_than_the_device_buffer_is_all_captured():
    m = halted(
        program(
            """
            li s0, CON
            li t1, 100000
            li t0, 'a'
    loop:   sw t0, 0(s0)
            addi t1, t1, -1
            bnez t1, loop
            halt
            """
        ),
        max_instructions=None,
    )
    assert m.console.output == "a" * 100000


def test_console_clear_forgets_the_output():
    m = halted(program("li s0, CON\n li t0, 'x'\n sw t0, 0(s0)\n halt"))
    m.console.clear()
    assert m.console.output == ""


def test_console_rx_without_input_reads_all_ones():
    m = halted(program("li s0, CON\n lw s1, 4(s0)\n halt"))
    assert m.regs["s1"] == M32


def test_console_rx_reads_fed_bytes_in_order():
    m = load_asm(program("li s0, CON\n lw s1, 4(s0)\n lw s2, 4(s0)\n lw s3, 4(s0)\n halt"))
    m.console.feed("ok")
    assert m.run().reason == "halt"
    assert (m.regs["s1"], m.regs["s2"], m.regs["s3"]) == (ord("o"), ord("k"), M32)
    assert m.console.pending_input == b""


def test_console_feed_appends_to_pending_input():
    m = load_asm(program("li s0, CON\n lw s1, 4(s0)\n halt"))
    m.console.feed("ab")
    m.run()
    m.console.feed(b"c")
    assert m.console.pending_input == b"bc"


def test_console_feed_beyond_the_queue_size_is_refused():
    m = Machine(memory="64K")
    with pytest.raises(ValueError, match="console input queue full"):
        m.console.feed(b"x" * (len(m.console.in_buffer) + 1))


def test_console_status_shows_input_ready_and_can_send():
    m = load_asm(program("li s0, CON\n lw s1, 8(s0)\n lw t0, 4(s0)\n lw s2, 8(s0)\n halt"))
    m.console.feed("z")
    m.run()
    assert (m.regs["s1"], m.regs["s2"]) == (0b11, 0b10)


def test_console_ctrl_keeps_only_the_interrupt_bit():
    m = halted(program("li s0, CON\n li t0, -1\n sw t0, 12(s0)\n lw s1, 12(s0)\n halt"))
    assert m.regs["s1"] == 1


def test_console_tx_reads_zero_and_writes_to_read_only_registers_are_ignored():
    m = halted(
        program(
            "li s0, CON\n lw s1, 0(s0)\n li t0, 7\n sw t0, 4(s0)\n sw t0, 8(s0)\n lw s2, 8(s0)\n halt"
        )
    )
    assert (m.regs["s1"], m.regs["s2"]) == (0, 0b10)
    assert m.console.output == ""


def test_console_input_interrupt_wakes_a_waiting_program():
    m = load_asm(
        program(
            f"""
            li s0, CON
            li t0, 1
            sw t0, 12(s0)           # CTRL: input interrupt
            li t0, 2
            csrw ie, t0             # console line
            li t0, {ST_MODE | ST_IE}
            csrw status, t0
    wait:   wfi
            j wait
            """
        ).replace("halt", "lw s1, 4(s0)\n halt")
    )
    res = m.run()
    assert res.reason == "idle" and m.pc == m.image.symbol("wait")
    m.console.feed("k")
    assert m.run().reason == "halt"
    assert (m.regs["a0"], m.regs["a1"]) == (CAUSE_CONSOLE_INTERRUPT, m.image.symbol("wait") + 4)
    assert m.regs["s1"] == ord("k")
    assert m.stats.interrupts_by_line == {"console interrupt": 1}


def test_program_waiting_in_wfi_for_a_flag_set_by_the_handler_sees_it_after_input():
    # the interrupt that ends a wfi returns after it, also when the machine had stopped as idle
    m = load_asm(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li s0, 0xF0000000
                li t0, 1
                sw t0, 12(s0)           # CTRL: input interrupt
                li t0, 2
                csrw ie, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
        wait:   wfi
                la t0, flag
                lw t0, 0(t0)
                beqz t0, wait
                halt
        trap:   lw a0, 4(s0)            # take the byte (the line drops)
                la t0, flag
                sw s0, 0(t0)
                eret
                .data
        flag:   .word 0
        """
    )
    assert m.run().reason == "idle"
    assert m.run().reason == "idle"  # nothing changed: still waiting in the same wfi
    m.console.feed("x")
    res = m.run()
    assert res.reason == "halt" and m.regs["a0"] == ord("x")
    assert m.stats.interrupts == 1


def test_console_interrupt_is_pending_only_while_input_is_unread_and_enabled():
    m = load_asm(
        program(
            """
            li s0, CON
            csrr s1, ip             # input, interrupt disabled in CTRL
            li t0, 1
            sw t0, 12(s0)
            csrr s2, ip             # input, enabled
            lw t0, 4(s0)
            csrr s3, ip             # read: nothing left
            halt
            """
        )
    )
    m.console.feed("q")
    assert m.run().reason == "halt"
    assert (m.regs["s1"], m.regs["s2"], m.regs["s3"]) == (0, 0b10, 0)


@pytest.mark.parametrize(
    "instr",
    [
        "sb t0, 0(s0)",
        "sh t0, 0(s0)",
        "lb t0, 4(s0)",
        "lbu t0, 8(s0)",
        "lh t0, 8(s0)",
        "lhu t0, 8(s0)",
    ],
)
def test_byte_or_halfword_access_to_a_device_is_an_access_fault(instr):
    m = halted(program(f"li s0, CON\n li t0, 'x'\nhere: {instr}"))
    base_off = int(instr.split(",")[1].split("(")[0])
    assert (m.regs["a0"], m.regs["a1"], m.regs["a2"]) == (
        CAUSE_ACCESS_FAULT,
        m.image.symbol("here"),
        CONSOLE_BASE + base_off,
    )
    assert m.console.output == ""


@pytest.mark.parametrize(
    "addr", [CONSOLE_BASE + 0x10, TIMER_BASE + 0x14, DISK_BASE + 0x18, POWER_BASE + 8, 0xF0004000]
)
def test_unknown_device_register_is_an_access_fault(addr):
    m = halted(program(f"li s0, {addr:#x}\n lw t0, 0(s0)"))
    assert (m.regs["a0"], m.regs["a2"]) == (CAUSE_ACCESS_FAULT, addr)
    m = halted(program(f"li s0, {addr:#x}\n sw zero, 0(s0)"))
    assert (m.regs["a0"], m.regs["a2"]) == (CAUSE_ACCESS_FAULT, addr)


def test_device_accesses_are_counted():
    m = halted(program("li s0, CON\n lw t0, 8(s0)\n sw t0, 0(s0)\n halt"))
    assert m.stats.device_accesses == 2


# --- timer -------------------------------------------------------------------------------------------
def test_timer_now_reads_the_cycle_counter():
    m = halted(program("li s0, TMR\n csrr s1, cycle\n lw s2, 0(s0)\n lw s3, 4(s0)\n halt"))
    assert m.regs["s2"] == m.regs["s1"] + BY_NAME["lw"].cycles
    assert m.regs["s3"] == 0


def test_timer_now_is_read_only():
    m = halted(program("li s0, TMR\n li t0, 5\n sw t0, 0(s0)\n lw s1, 0(s0)\n halt"))
    assert m.regs["s1"] > 5


def test_timer_cmp_is_the_timecmp_csr():
    m = halted(
        program(
            """
            li s0, TMR
            li t0, 0x1234
            sw t0, 8(s0)            # CMP lo
            li t0, 2
            sw t0, 12(s0)           # CMP hi
            csrr s1, timecmp
            csrr s2, timecmph
            li t0, 0x777
            csrw timecmp, t0
            lw s3, 8(s0)
            halt
            """
        )
    )
    assert (m.regs["s1"], m.regs["s2"], m.regs["s3"]) == (0x1234, 2, 0x777)


def test_timer_interval_sets_timecmp_relative_to_now_and_reads_cycles_left():
    m = halted(
        program(
            """
            li s0, TMR
            li t0, 500
            sw t0, 16(s0)           # INTERVAL = 500
            csrr s1, cycle
            csrr s2, timecmp
            lw s3, 16(s0)           # cycles left
            halt
            """
        )
    )
    lw, csrr = BY_NAME["lw"].cycles, BY_NAME["csrr"].cycles
    set_at = m.regs["s1"] - csrr  # the cycle the store completed
    assert m.regs["s2"] == set_at + 500
    assert m.regs["s3"] == m.regs["s2"] - (m.regs["s1"] + csrr + lw)


def test_timer_interval_reads_saturated_when_the_timer_is_off_and_zero_when_past():
    m = halted(program("li s0, TMR\n lw s1, 16(s0)\n csrw timecmp, zero\n lw s2, 16(s0)\n halt"))
    assert (m.regs["s1"], m.regs["s2"]) == (M32, 0)


# --- disk --------------------------------------------------------------------------------------------
def disk_program(body: str) -> str:
    return program(f"li s0, DSK\n{body}\n lw a3, 12(s0)\n halt")


SECTOR1 = bytes(range(256)) * 2


def sample_disk() -> Disk:
    return Disk.from_bytes(bytes(SECTOR_SIZE) + SECTOR1 + b"third")


def test_disk_count_is_the_number_of_sectors():
    m = halted(disk_program("lw s1, 16(s0)"), disk=Disk.memory(8 * SECTOR_SIZE))
    assert m.regs["s1"] == 8


def test_disk_read_copies_a_sector_into_ram():
    m = halted(
        disk_program(
            "li t0, 1\n sw t0, 0(s0)\n li t0, 0x8000\n sw t0, 4(s0)\n li t0, 1\n sw t0, 8(s0)"
        ),
        disk=sample_disk(),
    )
    assert m.regs["a3"] == DISK_OK
    assert m.read(0x8000, SECTOR_SIZE) == SECTOR1
    assert m.read(0x8000 + SECTOR_SIZE, 4) == b"\xa5" * 4  # nothing beyond the sector
    assert m.dirty[0x8] == 1


def test_disk_write_copies_ram_into_a_sector():
    disk = sample_disk()
    m = load_asm(
        disk_program(
            "li t0, 2\n sw t0, 0(s0)\n li t0, 0x8000\n sw t0, 4(s0)\n li t0, 2\n sw t0, 8(s0)"
        ),
        disk=disk,
    )
    m.write(0x8000, b"W" * SECTOR_SIZE)
    assert m.run().reason == "halt" and m.regs["a3"] == DISK_OK
    assert disk.read_sector(2) == b"W" * SECTOR_SIZE
    assert disk.read_sector(1) == SECTOR1


def test_disk_transfer_costs_sector_cycles():
    m = halted(
        disk_program(
            "li t0, 0x8000\n sw t0, 4(s0)\n li t0, 1\n csrr s1, cycle\n sw t0, 8(s0)\n csrr s2, cycle"
        ),
        disk=sample_disk(),
    )
    store, csrr = BY_NAME["sw"].cycles, BY_NAME["csrr"].cycles
    assert m.regs["s2"] - m.regs["s1"] == store + DISK_SECTOR_CYCLES + csrr


def test_disk_sector_and_addr_registers_read_back():
    m = halted(
        disk_program(
            "li t0, 3\n sw t0, 0(s0)\n li t0, 0x400\n sw t0, 4(s0)\n lw s1, 0(s0)\n lw s2, 4(s0)"
        ),
        disk=sample_disk(),
    )
    assert (m.regs["s1"], m.regs["s2"]) == (3, 0x400)


def test_code_read_from_disk_runs():
    # the disk holds 'li a0, 42; halt'; the program loads it to 0x8000 and jumps there
    code = assemble_words("li a0, 42\n halt")
    m = halted(
        disk_program(
            "li t0, 0x8000\n sw t0, 4(s0)\n li t0, 1\n sw t0, 8(s0)\n li t0, 0x8000\n jr t0"
        ),
        disk=Disk.from_bytes(code),
    )
    assert m.regs["a0"] == 42 and m.pc == 0x8004


def test_disk_read_over_code_that_already_ran_is_seen():
    code = assemble_words("li a0, 42\n halt")
    m = halted(
        disk_program(
            """
            li s1, 0
    again:  jal ra, target
            bnez s1, done
            li s1, 1
            la t0, target
            sw t0, 4(s0)
            li t0, 1
            sw t0, 8(s0)            # replace 'target' with the disk's code
            j again
    done:   halt
            .align 512
    target: li a0, 7
            ret
            """
        ),
        disk=Disk.from_bytes(code),
    )
    assert m.regs["a0"] == 42


@pytest.mark.parametrize(
    ("sector", "addr", "cmd", "status"),
    [
        (3, 0x8000, 1, DISK_BAD_SECTOR),  # the disk has 3 sectors
        (M32, 0x8000, 1, DISK_BAD_SECTOR),
        (0, 0x8001, 1, DISK_BAD_ADDR),  # not 512-aligned
        (0, 0x100000, 1, DISK_BAD_ADDR),  # beyond 1 MiB of RAM
        (0, 0xFFE00, 2, DISK_OK),  # the last sector of RAM is fine
        (0, 0xF0000000, 2, DISK_BAD_ADDR),  # a device is not RAM
        (0, 0x8000, 3, DISK_BAD_CMD),
        (0, 0x8000, 0, DISK_BAD_CMD),
    ],
)
def test_disk_reports_bad_requests_in_status_and_moves_nothing(sector, addr, cmd, status):
    m = halted(
        disk_program(
            f"li t0, {sector:#x}\n sw t0, 0(s0)\n li t0, {addr:#x}\n sw t0, 4(s0)\n li t0, {cmd}\n sw t0, 8(s0)"
        ),
        disk=sample_disk(),
    )
    assert m.regs["a3"] == status
    if status != DISK_OK:
        assert m.read(0x8000, 4) == b"\xa5" * 4


def test_machine_without_a_disk_reports_no_disk():
    m = halted(
        disk_program("li t0, 0x8000\n sw t0, 4(s0)\n li t0, 1\n sw t0, 8(s0)\n lw s1, 16(s0)")
    )
    assert (m.regs["a3"], m.regs["s1"]) == (DISK_NONE, 0)


def test_file_backed_disk_reads_and_writes_its_file(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(SECTOR1 + bytes(SECTOR_SIZE))
    disk = Disk.file(path)
    assert disk.sectors == 2
    m = halted(
        disk_program(
            """
            li t0, 0x8000
            sw t0, 4(s0)
            li t0, 1
            sw t0, 8(s0)            # sector 0 -> RAM
            li t0, 1
            sw t0, 0(s0)
            li t0, 2
            sw t0, 8(s0)            # RAM -> sector 1
            """
        ),
        disk=disk,
    )
    assert m.regs["a3"] == DISK_OK
    disk.flush()
    assert path.read_bytes() == SECTOR1 + SECTOR1


def test_file_backed_disk_can_be_created_with_a_size(tmp_path):
    disk = Disk.file(tmp_path / "new.img", size=4 * SECTOR_SIZE)
    assert disk.sectors == 4 and (tmp_path / "new.img").stat().st_size == 4 * SECTOR_SIZE


def test_file_backed_disk_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass size="):
        Disk.file(tmp_path / "missing.img")
    (tmp_path / "odd.img").write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="not a positive multiple of 512"):
        Disk.file(tmp_path / "odd.img")
    with pytest.raises(ValueError, match="disk size 1000 is not a positive multiple of the 512"):
        Disk.file(tmp_path / "bad.img", size=1000)
    assert not (tmp_path / "bad.img").exists()  # (checked before the file is made)


def test_disk_sizes_must_be_whole_sectors():
    with pytest.raises(ValueError, match="multiple of the 512-byte sector"):
        Disk.memory(1000)
    assert Disk.from_bytes(b"abc").sectors == 1
    for size in (0, -512):
        with pytest.raises(ValueError, match=f"disk size {size} is not a positive multiple"):
            Disk.memory(size)
    assert Disk.from_bytes(b"").sectors == 1  # never a disk without sectors


def test_a_disk_made_from_a_path_says_how_to_make_one(tmp_path):
    with pytest.raises(TypeError, match=r"Disk.file\(path\).*not Disk\(str\)"):
        Disk(str(tmp_path / "disk.img"))


def test_disk_completion_interrupt_and_its_pending_bit():
    m = halted(
        program(
            f"""
            li s0, DSK
            li t0, 1
            sw t0, 0x14(s0)         # CTRL: completion interrupt
            li t0, 4
            csrw ie, t0             # disk line
            li t0, {ST_MODE | ST_IE}
            csrw status, t0
            li t0, 0x8000
            sw t0, 4(s0)
            li t0, 1
    go:     sw t0, 8(s0)
    after:  j after
            """
        ).replace("halt", "lw s1, 12(s0)\n sw zero, 12(s0)\n lw s2, 12(s0)\n csrr s3, ip\n halt"),
        disk=sample_disk(),
    )
    assert (m.regs["a0"], m.regs["a1"]) == (CAUSE_DISK_INTERRUPT, m.image.symbol("after"))
    assert m.regs["s1"] == DISK_OK | DISK_IRQ_PENDING
    assert (m.regs["s2"], m.regs["s3"]) == (DISK_OK, 0)  # writing STATUS cleared it


def test_disk_without_ctrl_raises_no_interrupt():
    m = halted(
        disk_program(
            "li t0, 0x8000\n sw t0, 4(s0)\n li t0, 4\n csrw ie, t0\n li t0, 1\n sw t0, 8(s0)\n csrr s1, ip"
        ),
        disk=sample_disk(),
    )
    assert m.regs["a3"] == DISK_OK and m.regs["s1"] == 0


def test_disk_ctrl_reads_back_its_bit():
    m = halted(disk_program("li t0, -1\n sw t0, 0x14(s0)\n lw s1, 0x14(s0)"), disk=sample_disk())
    assert m.regs["s1"] == 1


# --- power ---------------------------------------------------------------------------------------------
def test_power_off_stops_with_the_exit_code():
    m, res = run_asm(
        program(
            "li s0, PWR\n li t0, 3\n sw t0, 4(s0)\n li t0, 1\nhere: sw t0, 0(s0)\n li a0, 9\n halt"
        )
    )
    assert (res.reason, res.exit_code, res.stopped) == ("poweroff", 3, True)
    assert m.regs["a0"] == 0  # nothing ran after it
    assert "powered off" in res.message
    with pytest.raises(MachineError, match="poweroff"):
        m.run()


def test_power_exit_code_reads_back():
    m = halted(
        program("li s0, PWR\n li t0, 77\n sw t0, 4(s0)\n lw s1, 4(s0)\n lw s2, 0(s0)\n halt")
    )
    assert (m.regs["s1"], m.regs["s2"]) == (77, 0)


def test_power_ctrl_ignores_other_values():
    m = halted(program("li s0, PWR\n li t0, 7\n sw t0, 0(s0)\n sw zero, 0(s0)\n li a0, 5\n halt"))
    assert m.regs["a0"] == 5


def test_reboot_resets_the_machine_and_the_program_starts_again():
    src = program(
        "li s0, PWR\n la s1, flag\n lw a0, 0(s1)\n li t0, 1\n sw t0, 0(s1)\n li t0, 2\n sw t0, 0(s0)\n halt\n flag: .word 5"
    )
    m, res = run_asm(src)
    assert res.reason == "reboot" and not res.stopped
    assert m.pc == ORG and m.regs["a0"] == 0 and m.regs["s1"] == 0
    assert m.read_word(m.image.symbol("flag")) == 5  # RAM reloaded from the image
    assert m.state == "ready"
    assert m.run().reason == "reboot"  # and it runs again from the start


def assemble_words(source: str) -> bytes:
    """The machine code of ``source`` (assembled at 0x8000)."""
    img = assemble(f".org 0x8000\n{source}")
    return img.segments[0].data
