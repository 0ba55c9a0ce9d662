"""The core's windows (docs/machine.md "Paging"): random paged programs behave as a lookup per access.

A window lets the core use a block of pages without asking the TLB. That is only right if every
access in it behaves exactly as a TLB hit would. The reference is the same program run one
instruction at a time: every run starts with no windows, so every access asks the TLB.
The programs sweep and jump over 16 pages with random mappings (in order, elsewhere, missing) and
permissions (read-only, write-only, kernel-only in user mode), touch far pages that evict them
from the TLB, and flush it; the trap handler folds every fault into registers and skips the
instruction. The two runs must agree on registers, cycles, TLB misses, traps and memory.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_paging import ROOT, paged

from vmlab import Machine
from vmlab.isa.arch import PAGE_SIZE, PTE_R, PTE_U, PTE_W, PTE_X, TLB_SETS

VA = 0x00400000  # the 16 pages the program uses
PAGES = 16
BLOCK = 0x40000  # their frames when mapped in order
POOL = 0x50000  # 16 more frames for pages mapped elsewhere and for far pages
HANDLER = """
trap:   csrr t3, cause
        li   s0, 9                      # syscall: the program is done
        bne  t3, s0, fold
        halt
fold:   li   s0, 31                     # a1 = a1 * 31 + cause, a2 ^= tval, a3 += 1
        mul  a1, a1, s0
        add  a1, a1, t3
        csrr t3, tval
        xor  a2, a2, t3
        addi a3, a3, 1
        csrr t3, epc                    # skip the instruction
        addi t3, t3, 4
        csrw epc, t3
        eret
"""


def random_program(seed: int, user: bool) -> tuple[str, list[tuple[int, int, int]]]:
    """The body of a program of random accesses over the 16 pages, and their mappings."""
    rnd = random.Random(seed)
    u = PTE_U if user else 0
    maps = []
    for i in range(PAGES):
        r = rnd.random()
        if r < 0.08:
            continue  # not mapped
        pa = BLOCK + i * PAGE_SIZE if r < 0.8 else POOL + rnd.randrange(16) * PAGE_SIZE
        flags = rnd.choice([PTE_R, PTE_R, PTE_R | PTE_W, PTE_R | PTE_W, PTE_R | PTE_X, PTE_W])
        maps.append((VA + i * PAGE_SIZE, pa, flags | (u if rnd.random() < 0.85 else 0)))
    far = {i: [VA + (i + TLB_SETS * k) * PAGE_SIZE for k in (1, 2, 3, 4)] for i in range(PAGES)}
    maps += [
        (va, POOL + rnd.randrange(16) * PAGE_SIZE, PTE_R | PTE_W | u)
        for v in far.values()
        for va in v
    ]
    ops = []
    page = rnd.randrange(PAGES)
    for _ in range(rnd.randrange(10, 60)):
        r = rnd.random()  # mostly sweeps up, some down, some jumps
        page = (page + (1 if r < 0.55 else 0 if r < 0.75 else -1)) % PAGES
        if r > 0.85:
            page = rnd.randrange(PAGES)
        va = VA + page * PAGE_SIZE + rnd.choice([0, 4, 4092, rnd.randrange(4096)])
        kind = rnd.random()
        if kind < 0.04:  # a flush: the next access must walk
            ops.append("tlbflush")
        elif kind < 0.14:  # loads from the pages of this page's set: they evict it
            ops += [f"li t0, {f}\n lw t1, 0(t0)" for f in far[page]]
        insn = rnd.choice(["lw t1", "lw t1", "sw t2", "sw t2", "lbu t1", "sb t2", "lhu t1"])
        ops.append(f"li t0, {va}\n {insn}, 0(t0)\n add t2, t2, t1\n addi t2, t2, 7")
    body = "\n".join(ops)
    src = f"""
            li s2, {rnd.randrange(2, 6)}
    round:  {body}
            addi s2, s2, -1
            bnez s2, round
            syscall
    """
    return src, maps


def machine(seed: int, user: bool) -> Machine:
    """The program loaded, its page tables written, its frames filled with random bytes."""
    src, maps = random_program(seed, user)
    m, _ = paged(src, maps=maps, user=user, run=False, handler=HANDLER, poisoned=False)
    m.write(BLOCK, random.Random(~seed).randbytes(2 * PAGES * PAGE_SIZE))
    return m


def outcome(m: Machine) -> dict[str, object]:
    """Everything a window could get wrong."""
    return {
        "regs": [m.regs[i] for i in range(16)],
        "pc": m.pc,
        "cycles": m.cycles,
        "instructions": m.instructions,
        "tlb_misses": m.stats.tlb_misses,
        "walk_refs": m.stats.walk_refs,
        "traps": m.stats.traps,
        "frames": m.read(BLOCK, 2 * PAGES * PAGE_SIZE),
        "page_tables": m.read(ROOT, 8 * PAGE_SIZE),  # A and D bits
    }


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), user=st.booleans())
def test_a_random_paged_program_runs_as_it_does_one_instruction_at_a_time(seed: int, user: bool):
    whole = machine(seed, user)
    assert whole.run(max_instructions=200_000).reason == "halt"
    pieces = machine(seed, user)
    while (r := pieces.run(max_instructions=1)).reason == "budget":
        pass
    assert r.reason == "halt"
    assert outcome(pieces) == outcome(whole)
