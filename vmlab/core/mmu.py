"""The memory-management unit: TLB, two-level page-table walk and the second-stage (p2m) map.

``translate`` is hot (every load/store/fetch with paging or in guest mode): a TLB hit is a tag
compare and a mask. ``walk`` runs on a miss. Both return a non-negative physical address (with
``IO_FLAG`` set for a device page) or one of the negative ``FAULT_*`` codes.
"""

from __future__ import annotations

import numpy as np

from .._jit import kernel
from ..devices.memmap import MMIO_BASE, MMIO_END
from ..isa.arch import (
    CSR_PTBR,
    CSR_STATUS,
    PTE_A,
    PTE_D,
    PTE_R,
    PTE_U,
    PTE_V,
    PTE_W,
    PTE_X,
    ST_PG,
    TLB_ENTRIES,
)
from .layout import (
    ACCESS_FETCH,
    ACCESS_STORE,
    P2M_SHIFT,
    P2M_V,
    P2M_W,
    ST_EXIT,
    ST_RAMSIZE,
    ST_TLB_DATA,
    ST_TLB_TAG,
    STAT_TLB_MISSES,
    TLB_D,
    TLB_IO,
    TLB_R,
    TLB_U,
    TLB_W,
    TLB_X,
)

IO_FLAG = 1 << 40  # set in a translated address that points at a device register
FAULT_PAGE = -1  # page fault (the cause depends on the access)
FAULT_ACCESS = -2  # no RAM or device at that physical address
FAULT_NPF = (
    -3
)  # second-stage fault: exit to the hypervisor (st[ST_EXIT+2] = guest-physical address)
TLB_MASK = TLB_ENTRIES - 1


@kernel
def tlb_flush(st: np.ndarray) -> None:
    """Invalidate every TLB entry."""
    for i in range(TLB_ENTRIES):
        st[ST_TLB_TAG + i] = -1


@kernel
def _second_stage(st: np.ndarray, p2m: np.ndarray, gpa: int, acc: int, guest: bool) -> int:
    """Guest-physical address -> its page's host base | TLB_W if writable | TLB_IO, or FAULT_*."""
    if gpa < st[ST_RAMSIZE]:
        if not guest:
            return (gpa & ~0xFFF) | TLB_W
        entry = p2m[gpa >> 12]
        if entry & P2M_V == 0 or (acc == ACCESS_STORE and entry & P2M_W == 0):
            st[ST_EXIT + 2] = gpa
            st[ST_EXIT + 3] = acc
            return FAULT_NPF
        base = (entry >> P2M_SHIFT) << 12
        if entry & P2M_W:
            return base | TLB_W
        return base
    if gpa >= MMIO_BASE and gpa < MMIO_END:
        return (gpa & ~0xFFF) | TLB_W | TLB_IO
    return FAULT_ACCESS


@kernel
def walk(
    st: np.ndarray,
    mem: np.ndarray,
    dcache: np.ndarray,
    dirty: np.ndarray,
    p2m: np.ndarray,
    va: int,
    acc: int,
    user: bool,
    bank: int,
    guest: bool,
) -> int:
    """Translate ``va`` the slow way (page tables, then p2m), fill the TLB, return the address."""
    st[STAT_TLB_MISSES] += 1
    perms = TLB_R | TLB_W | TLB_X | TLB_U | TLB_D
    gpa = va
    if st[bank + CSR_STATUS] & ST_PG:
        pte_gpa = (st[bank + CSR_PTBR] & 0xFFFFF000) + ((va >> 22) << 2)  # level-1 entry
        t = _second_stage(st, p2m, pte_gpa, 1, guest)
        if t < 0:
            return t
        if t & TLB_IO:
            return FAULT_ACCESS
        pte_pa = (t & ~0xFFF) | (pte_gpa & 0xFFF)
        pte = int(mem[pte_pa >> 2])
        if pte & PTE_V == 0:
            return FAULT_PAGE
        if pte & (PTE_R | PTE_W | PTE_X):  # a 4 MiB superpage
            gpa = (pte & 0xFFC00000) | (va & 0x3FF000)
        else:  # a level-2 table
            pte_gpa = (pte & 0xFFFFF000) + (((va >> 12) & 0x3FF) << 2)
            t = _second_stage(st, p2m, pte_gpa, 1, guest)
            if t < 0:
                return t
            if t & TLB_IO:
                return FAULT_ACCESS
            pte_pa = (t & ~0xFFF) | (pte_gpa & 0xFFF)
            pte = int(mem[pte_pa >> 2])
            if pte & PTE_V == 0:
                return FAULT_PAGE
            gpa = pte & 0xFFFFF000
        need = PTE_X if acc == ACCESS_FETCH else (PTE_W if acc == ACCESS_STORE else PTE_R)
        if user:
            need |= PTE_U
        if pte & need != need:
            return FAULT_PAGE
        new = pte | PTE_A | (PTE_D if acc == ACCESS_STORE else 0)
        if new != pte:
            if t & TLB_W == 0:  # the page table itself is write-protected by the hypervisor
                st[ST_EXIT + 2] = pte_gpa
                st[ST_EXIT + 3] = ACCESS_STORE
                return FAULT_NPF
            mem[pte_pa >> 2] = new
            dcache[pte_pa >> 2] = 0
            dirty[pte_pa >> 12] = 1
        perms = new & (PTE_R | PTE_W | PTE_X | PTE_U | PTE_D)
    t = _second_stage(st, p2m, gpa, acc, guest)
    if t < 0:
        return t
    if t & TLB_W == 0:
        perms &= ~(TLB_W | TLB_D)
    idx = (va >> 12) & TLB_MASK
    st[ST_TLB_TAG + idx] = va >> 12
    st[ST_TLB_DATA + idx] = (t & ~0xFFF) | (t & TLB_IO) | perms
    pa = (t & ~0xFFF) | (va & 0xFFF)
    if t & TLB_IO:
        return pa | IO_FLAG
    return pa
