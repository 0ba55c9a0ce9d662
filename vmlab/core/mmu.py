"""The memory-management unit: TLB, two-level page-table walk and the second-stage (p2m) map.

The TLB is set-associative (``TLB_SETS`` x ``TLB_WAYS``, see ``vmlab.isa.arch``) and replaces in
fill order (FIFO): each set keeps its ways newest first, a walk puts its page in way 0 and evicts
the last way, and a hit changes nothing. That last property is what the core's hot path
(``vmlab.core.cpu.run``) builds on: it keeps a window for each kind of access (fetch, load,
store) and calls ``tlb_hit`` only when an access leaves it. ``tlb_hit`` answers from the state
array alone and, when the access moved on to the page next to its window, widens the new window
to the largest aligned block of pages (at most twice the old window, and at most
``2**WINDOW_MAX_LOG2`` pages) that is all in the TLB with the same permission and mapped in
order, so a guest sweeping memory asks once per block, not once per page, and sees exactly what
a hit per page would give it. ``translate`` looks up
the TLB the same way and calls ``walk`` on a miss. Both return a non-negative physical address
(with ``IO_FLAG`` set for a device page) or one of the negative ``FAULT_*`` codes. A walk counts
its memory references in ``STAT_WALK_REFS`` (the core charges ``WALK_REF_CYCLES`` for each).
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
    TLB_SETS,
    TLB_WAYS,
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
    STAT_WALK_REFS,
    TLB_D,
    TLB_IO,
    TLB_R,
    TLB_SET_MASK,
    TLB_U,
    TLB_W,
    TLB_X,
)

IO_FLAG = 1 << 40  # set in a translated address that points at a device register
FAULT_PAGE = -1  # page fault (the cause depends on the access)
FAULT_ACCESS = -2  # no RAM or device at that physical address
WINDOW_SHIFT = 44  # tlb_hit puts the log2 of its window's pages here (above IO_FLAG)
WINDOW_MAX_LOG2 = 6  # a window covers at most 64 pages (256 KiB)
PA_MASK = (1 << WINDOW_SHIFT) - 1  # an address from tlb_hit without its window bits
FAULT_NPF = (
    -3
)  # second-stage fault: exit to the hypervisor (st[ST_EXIT+2] = guest-physical address)


@kernel
def tlb_flush(st: np.ndarray) -> None:
    """Invalidate every TLB entry."""
    for i in range(TLB_ENTRIES):
        st[ST_TLB_TAG + i] = -1


@kernel
def _tlb_use(st: np.ndarray, s: int, k: int, tag: int, data: int) -> None:
    """Make ``(tag, data)`` the newest entry of set ``s``: ways 0..k-1 move down one, over k.

    With ``k`` the way that held the page (a walk that changed its permissions) the page is
    refilled; with the last way, the oldest entry is evicted.
    """
    for w in range(k, 0, -1):
        st[ST_TLB_TAG + w * TLB_SETS + s] = st[ST_TLB_TAG + (w - 1) * TLB_SETS + s]
        st[ST_TLB_DATA + w * TLB_SETS + s] = st[ST_TLB_DATA + (w - 1) * TLB_SETS + s]
    st[ST_TLB_TAG + s] = tag
    st[ST_TLB_DATA + s] = data


@kernel
def _second_stage(st: np.ndarray, p2m: np.ndarray, gpa: int, acc: int, guest: bool) -> int:
    """Guest-physical address -> its page's host base | TLB_W if writable | TLB_IO, or FAULT_*.

    In guest mode every lookup reads the p2m map: one walk reference.
    """
    if guest:
        st[STAT_WALK_REFS] += 1
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
        st[STAT_WALK_REFS] += 1
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
            st[STAT_WALK_REFS] += 1
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
    vpn = va >> 12
    s = vpn & TLB_SET_MASK
    k = TLB_WAYS - 1  # evict the oldest way, unless the page is already in the set
    for w in range(TLB_WAYS):
        if st[ST_TLB_TAG + w * TLB_SETS + s] == vpn:
            k = w
            break
    _tlb_use(st, s, k, vpn, (t & ~0xFFF) | (t & TLB_IO) | perms)
    pa = (t & ~0xFFF) | (va & 0xFFF)
    if t & TLB_IO:
        return pa | IO_FLAG
    return pa


@kernel
def _tlb_lookup(st: np.ndarray, vpn: int) -> int:
    """The TLB data of virtual page ``vpn``, or -1 if no way of its set holds it."""
    s = vpn & TLB_SET_MASK
    for w in range(TLB_WAYS):
        if st[ST_TLB_TAG + w * TLB_SETS + s] == vpn:
            return st[ST_TLB_DATA + w * TLB_SETS + s]
    return -1


@kernel
def tlb_hit(st: np.ndarray, va: int, need: int, tag: int, size: int) -> int:
    """The address ``va`` translates to if the TLB holds its page with ``need``, else -1.

    A device page has ``IO_FLAG`` set. For RAM, the bits from ``WINDOW_SHIFT`` up hold k: the
    aligned block of 2**k pages around ``va`` is all in the TLB with ``need``, every page mapped
    at the same offset from its virtual address, so the core may use the whole block as if each
    access hit (hits change nothing). ``(tag, size)`` is the caller's window that ``va`` just
    left: the block is widened only when ``va`` is next to it (a sweep), and to at most twice its
    size, so the pages checked are never more than twice those the sweep has used: an access
    that jumps between distant pages, or a short run, pays for no check it cannot use. A hit
    changes nothing in the TLB; the call reads only ``st``.
    """
    vpn = va >> 12
    data = _tlb_lookup(st, vpn)
    if data < 0 or data & need != need:
        return -1
    pa = (data & ~0xFFF) | (va & 0xFFF)
    if data & TLB_IO:
        return pa | IO_FLAG
    if ((va - 4096) ^ tag) >= size and ((va + 4096) ^ tag) >= size:
        return pa  # not a neighbour of the last window: one page
    offset = (data & ~0xFFF) - (vpn << 12)
    k = 0
    while k < WINDOW_MAX_LOG2 and (4096 << k) <= size:
        half = 1 << k
        other = (vpn ^ half) & ~(half - 1)  # the other half of the next larger block
        for p in range(other, other + half):
            d = _tlb_lookup(st, p)
            if d < 0 or d & need != need or d & TLB_IO or (d & ~0xFFF) - (p << 12) != offset:
                return pa | (k << WINDOW_SHIFT)
        k += 1
    return pa | (k << WINDOW_SHIFT)


@kernel
def translate(
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
    """Translate ``va`` through the TLB (every way of its set), walking the page tables on a miss.

    A hit changes nothing (so how often the core asks, which depends on where a run started,
    cannot change what a run does). A page present without the needed permission (say, a first
    write to a clean page, which must set D) walks again: the walk sets A/D or faults.
    """
    if acc == ACCESS_FETCH:
        need = TLB_X
    elif acc == ACCESS_STORE:
        need = TLB_W | TLB_D
    else:
        need = TLB_R
    if user:
        need |= TLB_U
    data = _tlb_lookup(st, va >> 12)
    if data >= 0 and data & need == need:
        pa = (data & ~0xFFF) | (va & 0xFFF)
        if data & TLB_IO:
            return pa | IO_FLAG
        return pa
    return walk(st, mem, dcache, dirty, p2m, va, acc, user, bank, guest)
