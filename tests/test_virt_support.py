"""The core's virtualization support (docs/machine.md, last section), driven directly.

``Guest`` plays a minimal hypervisor: it puts a guest image into host frames, builds the
second-stage map (``p2m``: guest page -> host frame | V | W), sets ``st[ST_VMCTL]`` and calls
``vmlab.core.cpu.run`` itself, then reads the exit reason and the exit record
(``st[ST_EXIT:]``: reason, pc, a, b, c, d).
"""

from __future__ import annotations

import numpy as np
import pytest

from vmlab import Machine, assemble
from vmlab.core import cpu
from vmlab.core.layout import (
    ACCESS_FETCH,
    ACCESS_LOAD,
    ACCESS_STORE,
    EXIT_BUDGET,
    EXIT_GUEST_TRAP,
    EXIT_HALT,
    EXIT_HCALL,
    EXIT_IDLE,
    EXIT_MMIO,
    EXIT_NPF,
    EXIT_PRIV,
    P2M_V,
    P2M_W,
    ST_CSR,
    ST_EXIT,
    ST_GCSR,
    ST_PC,
    ST_RAMSIZE,
    ST_STRICT,
    ST_VMCTL,
    STAT_CYCLES,
    STAT_EXITS,
    STAT_IDLE_CYCLES,
    STAT_INSTRUCTIONS,
    STAT_TLB_MISSES,
    STAT_WALK_REFS,
    VM_DEPRIV,
    VM_EXIT_IDLE,
    VM_EXIT_MMIO,
    VM_EXIT_TRAP,
    VM_GUEST,
)
from vmlab.devices.disk import Disk
from vmlab.isa import encode
from vmlab.isa.arch import (
    CAUSE_ILLEGAL,
    CAUSE_LOAD_PAGE_FAULT,
    CAUSE_PRIVILEGED,
    CAUSE_SYSCALL,
    CAUSE_TIMER_INTERRUPT,
    CSR_CAUSE,
    CSR_CYCLE,
    CSR_EPC,
    CSR_INSTRET,
    CSR_SCRATCH,
    CSR_STATUS,
    CSR_TVEC,
    PTE_R,
    PTE_V,
    PTE_X,
    REG_ALIASES,
    ST_IE,
    ST_MODE,
    ST_PG,
    WALK_REF_CYCLES,
)
from vmlab.isa.table import BY_NAME

GUEST_RAM = 64 * 1024  # 16 guest pages
FRAME0 = 0x20  # guest page g lives in host frame FRAME0 + 15 - g (reversed: never identity)
NO_LIMIT = 1 << 62


def host_frame(gpage: int) -> int:
    return FRAME0 + 15 - gpage


class Guest:
    """A guest image in host frames, run by calling the core directly."""

    def __init__(
        self, source: str, vmctl: int = VM_GUEST, strict: bool = True, disk: Disk | None = None
    ):
        self.host = Machine(memory="256K", strict=strict, disk=disk)
        self.image = assemble(source)
        self.p2m = np.array(
            [(host_frame(g) << 12) | P2M_V | P2M_W for g in range(GUEST_RAM // 4096)],
            dtype=np.int64,
        )
        self.host.p2m = self.p2m
        for seg in self.image.segments:
            for i, byte in enumerate(seg.data):
                self.host.write(self.hpa(seg.addr + i), bytes([byte]))
        self.st = self.host.cpu.st
        self.st[ST_VMCTL] = vmctl
        self.st[ST_RAMSIZE] = GUEST_RAM
        self.st[ST_PC] = self.image.entry
        self.regs = self.host.cpu.regs
        self.regs[2] = GUEST_RAM  # sp
        # the host bank holds the hypervisor's own values; guest mode must not touch them
        self.st[ST_CSR + CSR_SCRATCH] = 0x1111
        self.st[ST_CSR + CSR_TVEC] = 0x2220
        self.st[ST_CSR + CSR_EPC] = 0x3330

    def hpa(self, gpa: int) -> int:
        """Host-physical address of a guest-physical address."""
        return (int(self.p2m[gpa >> 12]) >> 12 << 12) | (gpa & 0xFFF)

    def run(self, max_instructions: int = 10_000, max_cycles: int = NO_LIMIT) -> int:
        h = self.host
        disk = h.disk.data if h.disk is not None else np.zeros(0, np.uint8)
        return int(
            cpu.run(
                h.cpu.regs,
                self.st,
                h.mem,
                h.dcache,
                self.p2m,
                h.dirty,
                h.console.out_buffer,
                h.console.in_buffer,
                disk,
                max_instructions,
                max_cycles,
            )
        )

    @property
    def exit(self) -> tuple[int, ...]:
        """The exit record: reason, pc, a, b, c, d."""
        return tuple(int(v) for v in self.st[ST_EXIT : ST_EXIT + 6])

    @property
    def pc(self) -> int:
        return int(self.st[ST_PC])

    def sym(self, name: str) -> int:
        return self.image.symbol(name)

    def gcsr(self, num: int) -> int:
        return int(self.st[ST_GCSR + num])

    def hcsr(self, num: int) -> int:
        return int(self.st[ST_CSR + num])

    def reg(self, name: str) -> int:
        return int(self.regs[REG_ALIASES[name]])


# --- guest mode: shadow bank, second-stage map ------------------------------------------------------
def test_guest_csr_instructions_use_the_shadow_bank():
    g = Guest("_start: li t0, 0x77\n csrw scratch, t0\n csrr a0, scratch\n csrr a1, tvec\n halt")
    assert g.run() == EXIT_HALT
    assert (g.reg("a0"), g.reg("a1")) == (0x77, 0)
    assert g.gcsr(CSR_SCRATCH) == 0x77
    assert (g.hcsr(CSR_SCRATCH), g.hcsr(CSR_TVEC), g.hcsr(CSR_EPC)) == (0x1111, 0x2220, 0x3330)


def test_guest_traps_are_delivered_on_the_shadow_bank():
    g = Guest(
        "_start: la t0, trap\n csrw tvec, t0\nsc: syscall\ntrap: csrr a0, cause\n csrr a1, epc\n halt"
    )
    assert g.run() == EXIT_HALT
    assert (g.reg("a0"), g.reg("a1")) == (CAUSE_SYSCALL, g.sym("sc"))
    assert g.gcsr(CSR_CAUSE) == CAUSE_SYSCALL and g.hcsr(CSR_CAUSE) == 0
    assert g.hcsr(CSR_EPC) == 0x3330


def test_guest_physical_addresses_go_through_the_second_stage_map():
    g = Guest("_start: li t0, 0x3000\n li t1, 0xABCD\n sw t1, 8(t0)\n lw a0, 8(t0)\n halt")
    assert g.run() == EXIT_HALT and g.reg("a0") == 0xABCD
    assert g.host.read_word(host_frame(3) * 4096 + 8) == 0xABCD
    assert g.host.read_word(0x3008) == 0  # not the identity frame


def test_guest_code_is_fetched_through_the_second_stage_map():
    g = Guest("_start: li a0, 5\n halt")
    assert g.host.read_word(0x1000) == 0  # the code is only in the guest's frames
    assert g.run() == EXIT_HALT and g.reg("a0") == 5


def test_unmapped_guest_page_exits_with_npf_and_the_access_resumes_once_mapped():
    g = Guest("_start: li t0, 0x5000\n li a0, 1\nld: lw a0, 4(t0)\n halt")
    g.p2m[5] = 0
    assert g.run() == EXIT_NPF
    assert g.exit[:4] == (EXIT_NPF, g.sym("ld"), 0x5004, ACCESS_LOAD)
    assert g.pc == g.sym("ld") and g.reg("a0") == 1
    g.p2m[5] = (0x3F << 12) | P2M_V | P2M_W  # the hypervisor maps the page
    g.host.write_word(0x3F004, 99)
    assert g.run() == EXIT_HALT and g.reg("a0") == 99


def test_store_to_a_read_only_guest_page_exits_with_npf_and_writes_nothing():
    g = Guest("_start: li t0, 0x6000\n li t1, 1\nst: sw t1, 0(t0)\n halt")
    g.p2m[6] &= ~P2M_W
    assert g.run() == EXIT_NPF
    assert g.exit[:4] == (EXIT_NPF, g.sym("st"), 0x6000, ACCESS_STORE)
    assert g.host.read_word(host_frame(6) * 4096) == 0


def test_load_from_a_read_only_guest_page_is_allowed():
    g = Guest("_start: li t0, 0x6000\n lw a0, 0(t0)\n halt")
    g.p2m[6] &= ~P2M_W
    g.host.write_word(host_frame(6) * 4096, 42)
    assert g.run() == EXIT_HALT and g.reg("a0") == 42


def test_fetch_from_an_unmapped_guest_page_exits_with_npf():
    g = Guest("_start: li t0, 0x7000\n jr t0")
    g.p2m[7] = 0
    assert g.run() == EXIT_NPF
    assert g.exit[:4] == (EXIT_NPF, 0x7000, 0x7000, ACCESS_FETCH)


def test_npf_does_not_count_the_instruction():
    g = Guest("_start: li t0, 0x5000\n lw a0, 0(t0)\n halt")
    g.p2m[5] = 0
    g.run()
    assert g.gcsr(CSR_INSTRET) == 1  # the li retired, the lw did not


def test_guest_page_tables_hold_guest_physical_addresses():
    # guest VA 0x400000 -> guest PA 0x5000 (guest page table at guest PA 0x8000/0x9000)
    g = Guest(
        f"""
        _start: li t0, 0x8000
                csrw ptbr, t0
                li t0, {ST_MODE | ST_PG}
                csrw status, t0
                li t0, 0x400000
                lw a0, 0(t0)
                halt
        """
    )
    l1, l2 = 0x8000, 0x9000
    g.host.write_word(g.hpa(l1), l2 | PTE_V)  # VA[31:22] = 0: code
    g.host.write_word(g.hpa(l1 + 4), 0xA000 | PTE_V)  # VA[31:22] = 1
    g.host.write_word(g.hpa(l2 + 4), 0x1000 | PTE_R | PTE_X | PTE_V)  # code page
    g.host.write_word(g.hpa(0xA000), 0x5000 | PTE_R | PTE_V)
    g.host.write_word(g.hpa(0x5000), 0x5EED)
    assert g.run() == EXIT_HALT and g.reg("a0") == 0x5EED


def test_guest_page_table_write_protected_by_the_hypervisor_exits_on_the_a_bit_update():
    g = Guest(
        f"""
        _start: li t0, 0x8000
                csrw ptbr, t0
                li t0, {ST_MODE | ST_PG}
                csrw status, t0
                halt
        """
    )
    g.host.write_word(g.hpa(0x8000), 0x9000 | PTE_V)
    g.host.write_word(g.hpa(0x9004), 0x1000 | PTE_R | PTE_X | PTE_V)
    g.p2m[9] &= ~P2M_W  # the hypervisor tracks writes to the guest's page table
    assert g.run() == EXIT_NPF
    assert g.exit[2:4] == (0x9004, ACCESS_STORE)


# --- deprivileged guest kernel -----------------------------------------------------------------------
PRIVILEGED = [
    "csrr a0, scratch",
    "csrw scratch, t0",
    "csrrw a0, scratch, t0",
    "csrs status, t0",
    "csrc status, t0",
]
PRIVILEGED += ["eret", "wfi", "halt", "tlbflush", "csrr a0, status"]


@pytest.mark.parametrize("instr", PRIVILEGED)
def test_deprivileged_guest_privileged_instruction_exits_with_its_word(instr):
    g = Guest(f"_start: li t0, 3\nhere: {instr}\n halt", vmctl=VM_GUEST | VM_DEPRIV)
    assert g.run() == EXIT_PRIV
    assert g.exit[:3] == (EXIT_PRIV, g.sym("here"), g.host.read_word(g.hpa(g.sym("here"))))
    assert g.pc == g.sym("here")
    assert g.gcsr(CSR_SCRATCH) == 0 and g.gcsr(CSR_STATUS) == ST_MODE  # nothing happened


def test_every_privileged_instruction_is_in_the_deprivilege_list():
    assert {r.name for r in BY_NAME.values() if r.privileged} == {i.split()[0] for i in PRIVILEGED}


def test_deprivileged_guest_with_strict_off_reads_the_host_status_without_exiting():
    g = Guest(
        "_start: csrr a0, status\n csrr a1, scratch", vmctl=VM_GUEST | VM_DEPRIV, strict=False
    )
    g.st[ST_STRICT] = 0
    g.st[ST_CSR + CSR_STATUS] = 0  # the real CPU runs the guest in user mode
    assert g.run() == EXIT_PRIV
    assert g.exit[1] == g.sym("_start") + 4  # the csrr status ran, csrr scratch exited
    assert g.reg("a0") == 0  # the real status, while the guest's own says kernel mode
    assert g.gcsr(CSR_STATUS) == ST_MODE


def test_deprivileged_guest_user_mode_privileged_instruction_traps_into_the_guest():
    # guest user code runs a privileged instruction: the guest kernel gets the trap, no exit
    g = Guest("_start: halt\nuser: csrr a0, scratch\ntrap: hcall", vmctl=VM_GUEST | VM_DEPRIV)
    g.st[ST_GCSR + CSR_STATUS] = 0  # guest user mode
    g.st[ST_GCSR + CSR_TVEC] = g.sym("trap")
    g.st[ST_PC] = g.sym("user")
    assert g.run() == EXIT_HCALL  # reached the guest kernel's handler
    assert (g.gcsr(CSR_CAUSE), g.gcsr(CSR_EPC)) == (CAUSE_PRIVILEGED, g.sym("user"))
    assert g.gcsr(CSR_STATUS) == ST_MODE


# --- exits for guest traps, device accesses, idle and hypercalls ---------------------------------------
def test_exit_trap_reports_guest_exceptions_instead_of_delivering_them():
    g = Guest(
        "_start: la t0, trap\n csrw tvec, t0\nsc: syscall\ntrap: halt",
        vmctl=VM_GUEST | VM_EXIT_TRAP,
    )
    assert g.run() == EXIT_GUEST_TRAP
    assert g.exit[:4] == (EXIT_GUEST_TRAP, g.sym("sc"), CAUSE_SYSCALL, 0)
    assert g.pc == g.sym("sc") and g.gcsr(CSR_CAUSE) == 0  # nothing delivered


def test_exit_trap_reports_the_instruction_word_of_an_illegal_instruction():
    g = Guest("_start: nop\nbad: .word 0xEE", vmctl=VM_GUEST | VM_EXIT_TRAP)
    assert g.run() == EXIT_GUEST_TRAP
    assert g.exit[:4] == (EXIT_GUEST_TRAP, g.sym("bad"), CAUSE_ILLEGAL, 0xEE)


def test_exit_trap_reports_guest_page_faults_with_the_virtual_address():
    g = Guest(
        f"_start: li t0, 0x8000\n csrw ptbr, t0\n li t0, {ST_MODE | ST_PG}\n csrw status, t0\n"
        "li t0, 0x400000\nld: lw a0, 0(t0)",
        vmctl=VM_GUEST | VM_EXIT_TRAP,
    )
    g.host.write_word(g.hpa(0x8000), 0x9000 | PTE_V)
    g.host.write_word(g.hpa(0x9004), 0x1000 | PTE_R | PTE_X | PTE_V)
    assert g.run() == EXIT_GUEST_TRAP
    assert g.exit[:4] == (EXIT_GUEST_TRAP, g.sym("ld"), CAUSE_LOAD_PAGE_FAULT, 0x400000)


def test_exit_trap_reports_guest_timer_interrupts():
    g = Guest(
        f"""
        _start: li t0, 1
                csrw ie, t0
                li t0, 100
                csrw timecmp, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
        spin:   j spin
        """,
        vmctl=VM_GUEST | VM_EXIT_TRAP,
    )
    assert g.run() == EXIT_GUEST_TRAP
    assert g.exit[:4] == (EXIT_GUEST_TRAP, g.sym("spin"), CAUSE_TIMER_INTERRUPT, 0)
    assert g.gcsr(CSR_CYCLE) >= 100 and g.gcsr(CSR_EPC) == 0


def test_guest_timer_interrupt_is_delivered_to_the_guest_without_exit_trap():
    g = Guest(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                li t0, 100
                csrw timecmp, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
        spin:   j spin
        trap:   csrr a0, cause
                halt
        """
    )
    assert g.run() == EXIT_HALT and g.reg("a0") == CAUSE_TIMER_INTERRUPT


def test_exit_mmio_reports_a_device_store():
    g = Guest(
        "_start: li t0, 0xF0000000\n li t1, 'A'\nst: sw t1, 0(t0)\n halt",
        vmctl=VM_GUEST | VM_EXIT_MMIO,
    )
    assert g.run() == EXIT_MMIO
    word = encode("sw", rs2=9, rs1=8, imm=0)
    assert g.exit == (EXIT_MMIO, g.sym("st"), 0xF0000000, 1, ord("A"), word)
    assert g.pc == g.sym("st")
    assert g.host.console.output == ""


def test_exit_mmio_reports_a_device_load_with_its_destination_register():
    g = Guest("_start: li t0, 0xF0001000\nld: lw a2, 4(t0)\n halt", vmctl=VM_GUEST | VM_EXIT_MMIO)
    assert g.run() == EXIT_MMIO
    word = encode("lw", rd=6, rs1=8, imm=4)
    assert g.exit == (EXIT_MMIO, g.sym("ld"), 0xF0001004, 0, 6, word)


def test_without_exit_mmio_the_core_serves_guest_device_accesses():
    g = Guest("_start: li t0, 0xF0000000\n li t1, 'A'\n sw t1, 0(t0)\n halt")
    assert g.run() == EXIT_HALT
    assert g.host.console.output == "A"


def test_exit_idle_reports_a_guest_wfi_that_would_wait():
    g = Guest(
        "_start: li t0, 1\n csrw ie, t0\n li t0, 5000\n csrw timecmp, t0\nw: wfi\n halt",
        vmctl=VM_GUEST | VM_EXIT_IDLE,
    )
    assert g.run() == EXIT_IDLE
    assert g.exit[:2] == (EXIT_IDLE, g.sym("w")) and g.gcsr(CSR_CYCLE) < 5000


def test_guest_wfi_that_exited_idle_completes_when_reentered_with_an_interrupt_pending():
    g = Guest(
        f"""
        _start: la t0, trap
                csrw tvec, t0
                li t0, 1
                csrw ie, t0
                li t0, 5000
                csrw timecmp, t0
                li t0, {ST_MODE | ST_IE}
                csrw status, t0
        w:      wfi
        after:  halt
        trap:   csrr a0, epc
                hcall
        """,
        vmctl=VM_GUEST | VM_EXIT_IDLE,
    )
    assert g.run() == EXIT_IDLE and g.pc == g.sym("w")
    instret = g.gcsr(CSR_INSTRET)
    g.st[ST_GCSR + CSR_CYCLE] = 5000  # the hypervisor lets guest time pass to the deadline
    assert g.run() == EXIT_HCALL
    assert g.reg("a0") == g.sym("after")  # the interrupt returns after the wfi
    assert g.gcsr(CSR_INSTRET) == instret + 2  # the wfi and the csrr retired


def test_guest_wfi_that_exited_idle_waits_again_when_nothing_is_pending():
    g = Guest(
        "_start: li t0, 1\n csrw ie, t0\n li t0, 5000\n csrw timecmp, t0\nw: wfi\n halt",
        vmctl=VM_GUEST | VM_EXIT_IDLE,
    )
    assert g.run() == EXIT_IDLE
    assert g.run() == EXIT_IDLE and g.pc == g.sym("w")


def test_without_exit_idle_a_guest_wfi_skips_guest_time():
    g = Guest(
        "_start: li t0, 1\n csrw ie, t0\n li t0, 5000\n csrw timecmp, t0\n wfi\n csrr a0, cycle\n halt"
    )
    assert g.run() == EXIT_HALT
    assert g.reg("a0") == 5000 + BY_NAME["csrr"].cycles
    assert g.st[STAT_IDLE_CYCLES] > 4900


def test_hcall_in_guest_mode_exits_with_a0():
    g = Guest("_start: li a0, 7\n li a1, 8\nhc: hcall\n halt")
    assert g.run() == EXIT_HCALL
    assert g.exit[:3] == (EXIT_HCALL, g.sym("hc"), 7)
    assert g.pc == g.sym("hc")


# --- dirty bitmap ------------------------------------------------------------------------------------------
def test_guest_stores_mark_their_host_frame_dirty_and_loads_do_not():
    g = Guest(
        "_start: li t0, 0x3000\n sw zero, 0(t0)\n li t0, 0x4000\n lw a0, 0(t0)\n sb zero, 0x1001(t0)\n halt"
    )
    assert g.run() == EXIT_HALT
    assert sorted(np.flatnonzero(g.host.dirty)) == sorted([host_frame(3), host_frame(5)])


def test_dirty_bit_is_set_again_after_the_hypervisor_clears_it():
    g = Guest("_start: li t0, 0x3000\n sw zero, 0(t0)\n hcall\n sw zero, 4(t0)\n halt")
    assert g.run() == EXIT_HCALL
    g.host.dirty[:] = 0
    g.st[ST_PC] += 4
    assert g.run() == EXIT_HALT
    assert list(np.flatnonzero(g.host.dirty)) == [host_frame(3)]


def test_disk_dma_into_guest_memory_marks_the_frame_dirty():
    g = Guest(
        "_start: li t0, 0xF0002000\n li t1, 0x6000\n sw t1, 4(t0)\n li t1, 1\n sw t1, 8(t0)\n lw a0, 12(t0)\n halt",
        disk=Disk.from_bytes(b"disk!"),
    )
    assert g.run() == EXIT_HALT and g.reg("a0") == 0
    assert g.host.read(host_frame(6) * 4096, 5) == b"disk!"
    assert list(np.flatnonzero(g.host.dirty)) == [host_frame(6)]


def test_disk_dma_into_an_unmapped_guest_page_exits_with_npf():
    g = Guest(
        "_start: li t0, 0xF0002000\n li t1, 0x6000\n sw t1, 4(t0)\n li t1, 1\ngo: sw t1, 8(t0)\n halt",
        disk=Disk.from_bytes(b"disk!"),
    )
    g.p2m[6] = 0
    assert g.run() == EXIT_NPF
    assert g.exit[:4] == (EXIT_NPF, g.sym("go"), 0x6000, ACCESS_STORE)


# --- counters ------------------------------------------------------------------------------------------------
def test_run_counts_instructions_cycles_and_exits_by_reason():
    g = Guest("_start: nop\n nop\n hcall\n hcall\n halt")
    assert g.run() == EXIT_HCALL
    g.st[ST_PC] += 4
    assert g.run() == EXIT_HCALL
    g.st[ST_PC] += 4
    assert g.run() == EXIT_HALT
    assert g.st[STAT_INSTRUCTIONS] == 3  # nop, nop, halt (the exiting hcalls did not retire)
    # one second-stage walk for the code page (guest addresses always go through the TLB); with
    # guest paging off it reads one p2m entry: one walk reference
    assert g.st[STAT_TLB_MISSES] == 1
    assert g.st[STAT_WALK_REFS] == 1
    assert (
        g.st[STAT_CYCLES] == 2 * BY_NAME["addi"].cycles + BY_NAME["halt"].cycles + WALK_REF_CYCLES
    )
    assert g.st[STAT_EXITS + EXIT_HCALL] == 2 and g.st[STAT_EXITS + EXIT_HALT] == 1


def test_guest_time_is_also_host_time():
    g = Guest("_start: nop\n nop\n nop\n halt")
    g.run(max_instructions=2)
    assert g.gcsr(CSR_CYCLE) == g.hcsr(CSR_CYCLE) == 2 + WALK_REF_CYCLES  # one p2m reference
    assert g.gcsr(CSR_INSTRET) == g.hcsr(CSR_INSTRET) == 2
    assert g.st[STAT_EXITS + EXIT_BUDGET] == 1
