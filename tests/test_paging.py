"""Paging (docs/machine.md "Paging"): translation, permissions, A/D bits, the TLB and its counters.

Each test's page tables are written from Python with ``PageTables`` (the image is identity-mapped
for the kernel, the page tables themselves too, so the program can edit them); the program turns
paging on and does the accesses. ``trap`` records cause, epc, tval and status in a0..a3 and halts.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from conftest import ORG, PageTables, load_asm

from vmlab import Machine, RunResult
from vmlab.isa import encode
from vmlab.isa.arch import (
    CAUSE_ACCESS_FAULT,
    CAUSE_FETCH_PAGE_FAULT,
    CAUSE_LOAD_PAGE_FAULT,
    CAUSE_MISALIGNED_FETCH,
    CAUSE_STORE_PAGE_FAULT,
    PAGE_SIZE,
    PTE_A,
    PTE_D,
    PTE_R,
    PTE_U,
    PTE_V,
    PTE_W,
    PTE_X,
    ST_MODE,
    ST_PG,
    TLB_SETS,
    TLB_WAYS,
    WALK_REF_CYCLES,
)
from vmlab.isa.table import BY_NAME

ROOT = 0x80000  # level-1 table; level-2 tables follow it
RX, RW, RWX = PTE_R | PTE_X, PTE_R | PTE_W, PTE_R | PTE_W | PTE_X
VA = 0x00400000  # a virtual page outside the identity-mapped image
PA = 0x00040000  # a physical page outside the image (poisoned)
PA2 = 0x00041000
HANDLER = """
trap:   csrr a0, cause
        csrr a1, epc
        csrr a2, tval
        csrr a3, status
        halt
"""
ENTER_USER = """
        la t0, user
        csrw epc, t0
        eret
user:
"""


def paged(
    body: str,
    maps: Iterable[tuple[int, int, int]] = (),
    user: bool = False,
    code_flags: int = RX,
    regs: dict[str, int] | None = None,
    run: bool = True,
    handler: str = HANDLER,
    **kw,
) -> tuple[Machine, RunResult | None]:
    """Run ``body`` with paging on; ``maps`` are extra (va, pa, flags) page mappings.

    ``handler`` is the trap handler, at label ``trap`` (by default: record and halt).
    """
    src = f"""
    _start: la t0, trap
            csrw tvec, t0
            li t0, {ROOT}
            csrw ptbr, t0
            li t0, {ST_MODE | ST_PG}
            csrw status, t0
            {ENTER_USER if user else ""}
            {body}
    {handler}
    """
    m = load_asm(src, **kw)
    pt = PageTables(m, ROOT)
    assert m.image is not None
    for seg in m.image.segments:
        first = seg.addr & ~0xFFF
        pages = (seg.end - first + PAGE_SIZE - 1) // PAGE_SIZE
        pt.map(first, first, code_flags | (PTE_U if user else 0), pages)
    pt.map(ROOT, ROOT, RW, 8)  # the page tables, so the kernel can edit them
    for va, pa, flags in maps:
        pt.map(va, pa, flags)
    m.pt = pt  # type: ignore[attr-defined]
    for name, value in (regs or {}).items():
        m.regs[name] = value
    if not run:
        return m, None
    return m, m.run(max_instructions=100_000)


def trap_record(m: Machine) -> tuple[int, int, int]:
    """(cause, epc, tval) as the handler saw them."""
    return m.regs["a0"], m.regs["a1"], m.regs["a2"]


def halted_paged(*args, **kw) -> Machine:
    m, res = paged(*args, **kw)
    assert res is not None and res.reason == "halt", res
    return m


# --- translation ---------------------------------------------------------------------------------
def test_identity_mapped_program_runs_with_paging_on():
    m = halted_paged("li a0, 5\n halt")
    assert m.regs["a0"] == 5 and m.regs["a1"] == 0  # halted in the body, no trap
    assert m.csr("status") & ST_PG


def test_non_identity_page_maps_virtual_to_physical():
    m = halted_paged(
        f"li s0, {VA}\n li t0, 0x1234\n sw t0, 8(s0)\n lw a0, 8(s0)\n li a1, 0\n halt",
        maps=[(VA, PA, RW)],
    )
    assert m.regs["a0"] == 0x1234
    assert m.read_word(PA + 8) == 0x1234


def test_two_virtual_pages_can_alias_one_physical_page():
    m = halted_paged(
        f"li s0, {VA}\n li s1, {VA + PAGE_SIZE}\n li t0, 77\n sw t0, 0(s0)\n lw a0, 0(s1)\n li a1, 0\n halt",
        maps=[(VA, PA, RW), (VA + PAGE_SIZE, PA, PTE_R)],
    )
    assert m.regs["a0"] == 77


def test_superpage_maps_4_mib_with_one_level_1_entry():
    m, _ = paged(f"li s0, {0x00C00000 + PA}\n lw a0, 4(s0)\n li a1, 0\n halt", run=False)
    m.pt.map_super(0x00C00000, 0, RW)
    m.write_word(PA + 4, 0xFEEDFACE)
    res = m.run(max_instructions=1000)
    assert res.reason == "halt" and m.regs["a0"] == 0xFEEDFACE


def test_superpage_can_map_the_kernel_code():
    m, _ = paged(f"li s0, {PA}\n lw a0, 0(s0)\n li a1, 0\n halt", run=False)
    m.pt.map_super(0, 0, RWX)  # replaces the level-2 table of the first 4 MiB
    m.write_word(PA, 99)
    assert m.run(max_instructions=1000).reason == "halt" and m.regs["a0"] == 99


def test_machine_translate_follows_the_page_tables():
    m, _ = paged("halt", maps=[(VA, PA, RW)], run=False)
    m.pt.map_super(0x00C00000, 0, RW)
    assert m.run(max_instructions=100).reason == "halt"  # with paging on
    assert m.translate(VA + 0x10) == PA + 0x10
    assert m.translate(0x00C00000 + 0x1234) == 0x1234
    with pytest.raises(ValueError, match="not mapped"):
        m.translate(0x00800000)


# --- page faults ---------------------------------------------------------------------------------
def test_load_from_an_unmapped_level_1_entry_is_a_load_page_fault():
    m = halted_paged("li s0, 0x00800000\nhere: lw t1, 4(s0)")
    assert trap_record(m) == (CAUSE_LOAD_PAGE_FAULT, m.image.symbol("here"), 0x00800004)


def test_load_from_an_invalid_level_2_entry_is_a_load_page_fault():
    m = halted_paged(f"li s0, {VA + PAGE_SIZE}\nhere: lw t1, 0(s0)", maps=[(VA, PA, RW)])
    assert trap_record(m) == (CAUSE_LOAD_PAGE_FAULT, m.image.symbol("here"), VA + PAGE_SIZE)


def test_store_to_a_page_without_w_is_a_store_page_fault_and_writes_nothing():
    m = halted_paged(f"li s0, {VA}\n li t1, 1\nhere: sw t1, 0(s0)", maps=[(VA, PA, PTE_R)])
    assert trap_record(m) == (CAUSE_STORE_PAGE_FAULT, m.image.symbol("here"), VA)
    assert m.read_word(PA) == 0xA5A5A5A5


def test_load_from_a_page_without_r_is_a_load_page_fault():
    for flags in (PTE_W, PTE_X):
        m = halted_paged(f"li s0, {VA}\nhere: lw t1, 0(s0)", maps=[(VA, PA, flags)])
        assert trap_record(m) == (CAUSE_LOAD_PAGE_FAULT, m.image.symbol("here"), VA), flags


def test_fetch_from_a_page_without_x_is_a_fetch_page_fault():
    m = halted_paged(f"li s0, {VA}\n jr s0", maps=[(VA, PA, RW)])
    assert trap_record(m) == (CAUSE_FETCH_PAGE_FAULT, VA, VA)


def test_fetch_from_an_unmapped_page_is_a_fetch_page_fault():
    m = halted_paged("li s0, 0x00800000\n jr s0")
    assert trap_record(m) == (CAUSE_FETCH_PAGE_FAULT, 0x00800000, 0x00800000)


def test_fetch_from_an_executable_page_runs_it():
    m, _ = paged(f"li s0, {VA}\n jr s0", maps=[(VA, PA, RX)], run=False)
    m.write_word(PA, encode("addi", rd=4, imm=5))
    m.write_word(PA + 4, encode("halt"))
    res = m.run(max_instructions=1000)
    assert res.reason == "halt" and m.regs["a0"] == 5 and m.pc == VA + 4


def test_misaligned_jump_target_on_the_current_code_page_is_a_misaligned_fetch():
    m = halted_paged("la t0, target\n addi t0, t0, 2\n jr t0\n li a0, 0\ntarget: li a0, 1\n halt")
    assert trap_record(m)[0] == CAUSE_MISALIGNED_FETCH
    assert m.regs["a1"] == m.regs["a2"] == m.image.symbol("target") + 2


def test_page_fault_with_no_trap_vector_stops_the_machine_naming_the_address():
    m, _ = paged(f"csrw tvec, zero\n li s0, {VA}\n lw t0, 0(s0)", run=False)
    res = m.run(max_instructions=100)
    assert (res.reason, res.cause, res.tval) == ("fault", CAUSE_LOAD_PAGE_FAULT, VA)
    assert "load page fault" in res.message and f"{VA:#010x}" in res.message


def test_page_table_outside_ram_is_an_access_fault():
    m, _ = paged("csrw tvec, zero\n li t0, 0x00F00000\n csrw ptbr, t0\nnext: halt", run=False)
    res = m.run(max_instructions=100)
    # the instruction after the ptbr write is fetched through a table that is not in RAM
    assert (res.reason, res.cause) == ("fault", CAUSE_ACCESS_FAULT)
    assert res.tval == res.pc == m.image.symbol("next")


# --- the U bit ------------------------------------------------------------------------------------
def test_user_mode_can_use_pages_with_u():
    m = halted_paged(
        f"li s0, {VA}\n li t0, 3\n sw t0, 0(s0)\n lw s1, 0(s0)\n syscall",
        maps=[(VA, PA, RW | PTE_U)],
        user=True,
    )
    assert m.regs["s1"] == 3 and m.regs["a0"] == 9  # reached the syscall


@pytest.mark.parametrize(
    ("instr", "cause"),
    [("lw t1, 0(s0)", CAUSE_LOAD_PAGE_FAULT), ("sw t1, 0(s0)", CAUSE_STORE_PAGE_FAULT)],
)
def test_user_mode_cannot_touch_a_page_without_u(instr, cause):
    m = halted_paged(f"li s0, {VA}\nhere: {instr}", maps=[(VA, PA, RW)], user=True)
    assert trap_record(m) == (cause, m.image.symbol("here"), VA)
    assert m.regs["a3"] & ST_PG  # the handler still runs with paging on


def test_user_mode_cannot_fetch_from_a_page_without_u():
    m = halted_paged(f"li s0, {VA}\n jr s0", maps=[(VA, PA, RWX)], user=True)
    assert trap_record(m) == (CAUSE_FETCH_PAGE_FAULT, VA, VA)


def test_kernel_mode_may_use_user_pages():
    m = halted_paged(
        f"li s0, {VA}\n li t0, 8\n sw t0, 0(s0)\n lw a0, 0(s0)\n li a1, 0\n halt",
        maps=[(VA, PA, RW | PTE_U)],
    )
    assert m.regs["a0"] == 8


def test_user_mode_fault_after_a_kernel_access_filled_the_tlb():
    # the kernel's access caches the translation; user mode must still be refused
    m = halted_paged(
        f"li s0, {VA}\n lw t1, 0(s0)\n" + ENTER_USER.replace("user", "u2") + "here: lw t1, 0(s0)",
        maps=[(VA, PA, RW)],
        code_flags=RX | PTE_U,
    )
    assert trap_record(m) == (CAUSE_LOAD_PAGE_FAULT, m.image.symbol("here"), VA)


# --- accessed and dirty bits --------------------------------------------------------------------------
def test_load_sets_a_but_not_d():
    m = halted_paged(f"li s0, {VA}\n lw t0, 0(s0)\n halt", maps=[(VA, PA, RW)])
    assert m.pt.pte(VA) & (PTE_A | PTE_D) == PTE_A


def test_store_sets_a_and_d():
    m = halted_paged(f"li s0, {VA}\n sw zero, 0(s0)\n halt", maps=[(VA, PA, RW)])
    assert m.pt.pte(VA) & (PTE_A | PTE_D) == PTE_A | PTE_D


def test_store_after_a_load_on_the_same_page_still_sets_d():
    m = halted_paged(f"li s0, {VA}\n lw t0, 0(s0)\n sw zero, 4(s0)\n halt", maps=[(VA, PA, RW)])
    assert m.pt.pte(VA) & PTE_D


def test_fetch_sets_a_on_the_code_page():
    m = halted_paged("halt")
    assert m.pt.pte(ORG) & (PTE_A | PTE_D) == PTE_A


def test_untouched_page_has_neither_a_nor_d():
    m = halted_paged("halt", maps=[(VA, PA, RW)])
    assert m.pt.pte(VA) & (PTE_A | PTE_D) == 0


def test_faulting_access_does_not_set_a():
    m = halted_paged(f"li s0, {VA}\n sw zero, 0(s0)", maps=[(VA, PA, PTE_R)])
    assert m.regs["a0"] == CAUSE_STORE_PAGE_FAULT
    assert m.pt.pte(VA) & (PTE_A | PTE_D) == 0


def test_superpage_entry_gets_a_and_d():
    m, _ = paged("li s0, 0x00C02000\n sw zero, 0(s0)\n halt", run=False)
    m.pt.map_super(0x00C00000, 0, RW)
    assert m.run(max_instructions=100).reason == "halt"
    assert m.read_word(m.pt.l1_index_addr(0x00C00000)) & (PTE_A | PTE_D) == PTE_A | PTE_D


# --- the TLB -----------------------------------------------------------------------------------------
def test_stale_tlb_entry_is_used_until_tlbflush():
    m, _ = paged(
        f"""
        li s0, {VA}
        lw a0, 0(s0)        # caches VA -> PA
        sw s2, 0(s1)        # remap VA -> PA2 in the page table
        lw a1, 0(s0)        # still PA: the TLB is stale
        tlbflush
        lw a2, 0(s0)        # PA2
        halt
        """,
        maps=[(VA, PA, RW)],
        run=False,
    )
    m.regs["s1"] = m.pt.pte_addr(VA)
    m.regs["s2"] = PA2 | RW | PTE_V
    m.write_word(PA, 111)
    m.write_word(PA2, 222)
    assert m.run(max_instructions=1000).reason == "halt"
    assert (m.regs["a0"], m.regs["a1"], m.regs["a2"]) == (111, 111, 222)


@pytest.mark.parametrize(
    "flush", [f"li t0, {ROOT}\n csrw ptbr, t0", f"li t0, {ST_MODE | ST_PG}\n csrw status, t0"]
)
def test_writing_ptbr_or_status_flushes_the_tlb(flush):
    m, _ = paged(
        f"li s0, {VA}\n lw a0, 0(s0)\n sw s2, 0(s1)\n {flush}\n lw a2, 0(s0)\n halt",
        maps=[(VA, PA, RW)],
        run=False,
    )
    m.regs["s1"] = m.pt.pte_addr(VA)
    m.regs["s2"] = PA2 | RW | PTE_V
    m.write_word(PA, 111)
    m.write_word(PA2, 222)
    assert m.run(max_instructions=1000).reason == "halt"
    assert (m.regs["a0"], m.regs["a2"]) == (111, 222)


def test_revoked_permission_is_enforced_after_tlbflush():
    m, _ = paged(
        f"li s0, {VA}\n sw zero, 0(s0)\n sw s2, 0(s1)\n tlbflush\nhere: sw zero, 0(s0)",
        maps=[(VA, PA, RW)],
        run=False,
    )
    m.regs["s1"] = m.pt.pte_addr(VA)
    m.regs["s2"] = PA | PTE_R | PTE_V  # read-only now
    assert m.run(max_instructions=1000).reason == "halt"
    assert trap_record(m) == (CAUSE_STORE_PAGE_FAULT, m.image.symbol("here"), VA)


def test_repeated_accesses_to_one_page_miss_the_tlb_once():
    loop = f"li s0, {VA}\n li t1, 50\nloop: lw t0, 0(s0)\n lw t0, 4(s0)\n addi t1, t1, -1\n bnez t1, loop\n halt"
    m = halted_paged(loop, maps=[(VA, PA, RW)])
    base = halted_paged(
        loop.replace("lw t0,", "addi t0, t0,").replace("(s0)", ""), maps=[(VA, PA, RW)]
    )
    assert m.stats.tlb_misses - base.stats.tlb_misses == 1


def test_each_new_page_is_one_tlb_miss():
    far = VA + 8 * PAGE_SIZE  # TLB sets 8..12: clear of the code page's set 1
    maps = [(far + i * PAGE_SIZE, PA, PTE_R) for i in range(5)]
    body = f"li s0, {far}\n" + "".join(f"lw t0, {i * PAGE_SIZE}(s0)\n" for i in range(5)) + "halt"
    m = halted_paged(body, maps=maps)
    base = halted_paged(body.replace("lw t0,", "addi t0, zero,").replace("(s0)", ""), maps=maps)
    assert m.stats.tlb_misses - base.stats.tlb_misses == 5


def _same_set_loop(
    pages: int, rounds: int = 10, repeat: int = 1
) -> tuple[str, list[tuple[int, int, int]]]:
    """A loop loading ``repeat`` times from each of ``pages`` data pages in the code page's set 1."""
    assert TLB_SETS == 64  # 0x41000, 0x81000, ... are pages 0x41, 0x81, ...: all in set 1
    data = [0x1000 + (i + 1) * TLB_SETS * PAGE_SIZE for i in range(pages)]
    loads = "".join(f"li s0, {va}\n" + "lw t0, 0(s0)\n" * repeat for va in data)
    body = f"li t1, {rounds}\nloop: {loads} addi t1, t1, -1\n bnez t1, loop\n halt"
    return body, [(va, PA, PTE_R) for va in data]


def test_pages_of_one_set_up_to_its_ways_stay_in_the_tlb():
    # the code page (1) and TLB_WAYS - 1 data pages share set 1: they all fit, so each data page
    # misses once (its first load) and never again, whatever the order of use
    body, maps = _same_set_loop(TLB_WAYS - 1)
    m = halted_paged(body, maps=maps)
    base = halted_paged(body.replace("lw t0, 0(s0)", "nop"), maps=maps)
    assert m.stats.tlb_misses - base.stats.tlb_misses == TLB_WAYS - 1


def test_one_page_more_than_the_ways_evicts_the_oldest():
    # the code page C and TLB_WAYS data pages d1..d4 in one 4-way set, used in a cycle. Hits
    # refresh nothing, so (newest first) after round 1's fills: d4 d3 d2 d1 (C evicted by d4's
    # fill), then the fetch refills C: C d4 d3 d2 (d1 evicted). Each later round: d1 misses
    # (evicts d2), d2 (evicts d3), d3 (evicts d4), d4 (evicts C), and C misses again (evicts d1).
    # So every load misses and C misses once a round: TLB_WAYS + 1 misses per round
    body, maps = _same_set_loop(TLB_WAYS, rounds=10)
    m = halted_paged(body, maps=maps)
    base = halted_paged(body.replace("lw t0, 0(s0)", "nop"), maps=maps)
    assert m.stats.tlb_misses - base.stats.tlb_misses == 10 * (TLB_WAYS + 1)


def test_a_hit_does_not_refresh_a_page_the_set_evicts_in_fill_order():
    # five data pages A..E in set 8 (the code is in set 1), straight-line loads:
    #   A B C D    4 misses; fill order (newest first) D C B A
    #   A          hit: nothing changes
    #   E          miss, evicts the oldest, A: E D C B
    #   A          miss (LRU replacement would have kept A and evicted B), evicts B: A E D C
    #   B          miss, evicts C: B A E D
    #   D          hit
    assert TLB_SETS == 64 and TLB_WAYS == 4
    pages = {name: VA + (8 + TLB_SETS * i) * PAGE_SIZE for i, name in enumerate("ABCDE")}
    maps = [(va, PA, PTE_R) for va in pages.values()]
    loads = "".join(f"li s0, {pages[p]}\n lw t0, 0(s0)\n" for p in "ABCDAEABD")
    m = halted_paged(loads + "halt", maps=maps)
    base = halted_paged(loads.replace("lw t0, 0(s0)", "nop") + "halt", maps=maps)
    assert m.stats.tlb_misses - base.stats.tlb_misses == 7


def test_pages_in_different_sets_do_not_evict_each_other():
    # TLB_WAYS + 1 data pages in consecutive sets 8, 9, ...: no set is over-full, one miss each
    far = VA + 8 * PAGE_SIZE
    maps = [(far + i * PAGE_SIZE, PA, PTE_R) for i in range(TLB_WAYS + 1)]
    loads = "".join(f"lw t0, {i * PAGE_SIZE}(s0)\n" for i in range(TLB_WAYS + 1))
    body = f"li s0, {far}\n li t1, 10\nloop: {loads} addi t1, t1, -1\n bnez t1, loop\n halt"
    m = halted_paged(body, maps=maps)
    base = halted_paged(body.replace("lw t0,", "addi t0, zero,").replace("(s0)", ""), maps=maps)
    assert m.stats.tlb_misses - base.stats.tlb_misses == TLB_WAYS + 1


def test_tlb_miss_costs_walk_cycles():
    body = f"li s0, {VA}\n csrr s1, cycle\n lw t0, 0(s0)\n csrr s2, cycle\n lw t0, 4(s0)\n csrr s3, cycle\n halt"
    m = halted_paged(body, maps=[(VA, PA, RW)])
    cold = m.regs["s2"] - m.regs["s1"]
    warm = m.regs["s3"] - m.regs["s2"]
    # a 4 KiB page: the walk reads the level-1 and the level-2 entry, two references
    assert cold - warm == 2 * WALK_REF_CYCLES
    assert warm == BY_NAME["lw"].cycles + BY_NAME["csrr"].cycles
    assert m.stats.walk_refs - m.stats.tlb_misses == m.stats.tlb_misses  # all walks: 2 levels


def test_superpage_tlb_miss_reads_one_level():
    body = f"li s0, {0x00C00000}\n csrr s1, cycle\n lw t0, 0(s0)\n csrr s2, cycle\n lw t0, 4(s0)\n csrr s3, cycle\n halt"
    m, _ = paged(body, run=False)
    m.pt.map_super(0x00C00000, 0, RW)
    assert m.run(max_instructions=1000).reason == "halt"
    cold = m.regs["s2"] - m.regs["s1"]
    warm = m.regs["s3"] - m.regs["s2"]
    assert cold - warm == WALK_REF_CYCLES  # the level-1 entry is the whole walk


def test_device_access_through_a_mapped_page_misses_the_tlb_once():
    console = 0xF0000000
    body = f"li s0, {VA}\n li t1, 20\n li t0, 'x'\nloop: sw t0, 0(s0)\n addi t1, t1, -1\n bnez t1, loop\n halt"
    m = halted_paged(body, maps=[(VA, console, RW)])
    base = halted_paged(body.replace("sw t0, 0(s0)", "nop"), maps=[(VA, console, RW)])
    assert m.console.output == "x" * 20
    assert m.stats.tlb_misses - base.stats.tlb_misses == 1


def test_store_through_one_mapping_changes_code_fetched_through_another():
    # decoded instructions are cached by physical address: an alias write must be seen
    m, _ = paged(
        f"li s0, {VA}\n li s1, {VA + PAGE_SIZE}\n jalr ra, 0(s1)\n sw s2, 0(s0)\n jalr ra, 0(s1)\n halt",
        maps=[(VA, PA, RW), (VA + PAGE_SIZE, PA, RX)],
        run=False,
    )
    m.write_word(PA, encode("addi", rd=4, rs1=4, imm=1))
    m.write_word(PA + 4, encode("jalr", rd=0, rs1=1, imm=0))  # ret
    m.regs["s2"] = encode("addi", rd=4, rs1=4, imm=10)
    assert m.run(max_instructions=1000).reason == "halt"
    assert m.regs["a0"] == 1 + 10


@pytest.mark.parametrize("pages", [TLB_WAYS - 1, TLB_WAYS])
@pytest.mark.parametrize("repeat", [1, 3])
@pytest.mark.parametrize("piece", [1, 3, 7])
def test_split_run_counts_the_same_tlb_misses_and_cycles_as_one_run(
    pages: int, repeat: int, piece: int
) -> None:
    # the code page and up to TLB_WAYS data pages share set 1: fetch and data translations evict
    # and reorder each other, and a run split at any instruction (which empties the core's
    # windows) must model that, fill order included, exactly as one run does
    body, maps = _same_set_loop(pages, rounds=10, repeat=repeat)
    whole, res = paged(body, maps=maps)
    split, _ = paged(body, maps=maps, run=False)
    while (r := split.run(max_instructions=piece)).reason == "budget":
        pass
    assert r.reason == res.reason == "halt"
    assert (split.cycles, split.instructions) == (whole.cycles, whole.instructions)
    assert split.stats.tlb_misses == whole.stats.tlb_misses


# --- the core's windows: blocks of neighbouring pages served without a TLB lookup ---------------
BLOCK_PA = 0x00040000  # eight physical pages, in order, for the eight virtual pages at VA
ODD_PA = 0x00060000  # where page 5 goes when the block is not mapped in order


def _sweeps(body: str, rounds: int, end: str = "halt", label: str = "sweep") -> str:
    """``rounds`` sweeps of ``body`` over the eight pages at VA (s0: the page, s1: 8 down to 1)."""
    return f"""
        li s2, {rounds}
    {label}.round:
        li s0, {VA}
        li s1, 8
    {label}.page:
        {body}
        addi s0, s0, {PAGE_SIZE}
        addi s1, s1, -1
        bnez s1, {label}.page
        addi s2, s2, -1
        bnez s2, {label}.round
        {end}
    """


def _split(body: str, maps: list[tuple[int, int, int]], piece: int) -> Machine:
    """``body`` run in pieces of ``piece`` instructions (every piece starts with no windows)."""
    m, _ = paged(body, maps=maps, run=False)
    while (r := m.run(max_instructions=piece)).reason == "budget":
        pass
    assert r.reason == "halt", r
    return m


def test_a_sweep_over_pages_mapped_in_order_behaves_as_a_lookup_per_page():
    maps = [(VA + i * PAGE_SIZE, BLOCK_PA + i * PAGE_SIZE, RW) for i in range(8)]
    body = _sweeps("lw t0, 0(s0)\n add t0, t0, s1\n sw t0, 0(s0)", rounds=5)
    whole, _ = paged(body, maps=maps, run=False)
    before = [whole.read_word(BLOCK_PA + i * PAGE_SIZE) for i in range(8)]
    assert whole.run(max_instructions=100_000).reason == "halt"
    for piece in (1, 4):
        split = _split(body, maps, piece)
        assert (split.cycles, split.instructions) == (whole.cycles, whole.instructions)
        # each page: a walk for its first load and one for its first store (to set D); the code
        assert split.stats.tlb_misses == whole.stats.tlb_misses == 8 + 8 + 1
    for i in range(8):
        assert whole.read_word(BLOCK_PA + i * PAGE_SIZE) == (before[i] + 5 * (8 - i)) & 0xFFFFFFFF


def test_a_sweep_uses_each_pages_own_frame_when_the_block_is_not_mapped_in_order():
    # page 5 of the block maps elsewhere: a window over the whole block would store page 5's
    # value into the frame after page 4's
    maps = [(VA + i * PAGE_SIZE, BLOCK_PA + i * PAGE_SIZE, RW) for i in range(8)]
    maps[5] = (VA + 5 * PAGE_SIZE, ODD_PA, RW)
    m, _ = paged(_sweeps("sw s1, 4(s0)", rounds=3), maps=maps, run=False)
    m.write_word(BLOCK_PA + 5 * PAGE_SIZE + 4, 0xDEAD)
    assert m.run(max_instructions=100_000).reason == "halt"
    assert m.read_word(ODD_PA + 4) == 8 - 5
    assert m.read_word(BLOCK_PA + 5 * PAGE_SIZE + 4) == 0xDEAD
    assert [m.read_word(BLOCK_PA + i * PAGE_SIZE + 4) for i in (0, 1, 2, 3, 4, 6, 7)] == [
        8,
        7,
        6,
        5,
        4,
        2,
        1,
    ]


def test_a_store_sweep_faults_at_a_read_only_page_inside_a_block_of_writable_ones():
    # all eight pages are in the TLB (loads), all but page 5 dirty and writable (stores): the
    # third sweep stores to every page and must fault at page 5, not write through a window
    maps = [(VA + i * PAGE_SIZE, BLOCK_PA + i * PAGE_SIZE, RW) for i in range(8)]
    maps[5] = (VA + 5 * PAGE_SIZE, BLOCK_PA + 5 * PAGE_SIZE, PTE_R)
    body = f"""
        {_sweeps("lw t0, 0(s0)", rounds=1, end="", label="fill")}
        li s0, {VA}
        li s1, 5
    dirty:
        sw zero, 0(s0)
        addi s0, s0, {PAGE_SIZE}
        addi s1, s1, -1
        bnez s1, dirty
        li s0, {VA + 6 * PAGE_SIZE}
        sw zero, 0(s0)
        sw zero, {PAGE_SIZE}(s0)
        {_sweeps("sw s1, 8(s0)", rounds=2)}
    """
    m, _ = paged(body, maps=maps, run=False)
    before = m.read_word(BLOCK_PA + 5 * PAGE_SIZE + 8)
    assert m.run(max_instructions=100_000).reason == "halt"
    assert trap_record(m)[0] == CAUSE_STORE_PAGE_FAULT
    assert trap_record(m)[2] == VA + 5 * PAGE_SIZE + 8
    assert m.read_word(BLOCK_PA + 5 * PAGE_SIZE + 8) == before
    assert m.read_word(BLOCK_PA + 4 * PAGE_SIZE + 8) == 8 - 4  # the sweep got that far


def test_a_walk_in_the_middle_of_a_sweep_ends_the_window_over_the_page_it_evicts():
    # each sweep also loads from four far pages in page 3's set: they evict page 3 every round,
    # so page 3 misses every round, in one run as in a run split at every instruction
    far = [VA + (3 + TLB_SETS * (k + 1)) * PAGE_SIZE for k in range(TLB_WAYS)]
    maps = [(VA + i * PAGE_SIZE, BLOCK_PA + i * PAGE_SIZE, RW) for i in range(8)]
    maps += [(va, PA2, PTE_R) for va in far]
    loads = "\n".join(f"li t1, {va}\n lw t0, 0(t1)" for va in far)
    body = _sweeps(f"lw t0, 0(s0)\n li t2, 6\n bne s1, t2, near\n {loads}\n near:", rounds=4)
    whole = halted_paged(body, maps=maps)
    split = _split(body, maps, 1)
    assert (split.cycles, split.stats.tlb_misses) == (whole.cycles, whole.stats.tlb_misses)
    assert whole.stats.tlb_misses >= 1 + 8 + 4 * (TLB_WAYS + 1) - TLB_WAYS
