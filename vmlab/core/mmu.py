"""The memory-management unit: TLB, two-level page-table walk and the second-stage (p2m) map.

The TLB is set-associative with LRU replacement (``TLB_SETS`` x ``TLB_WAYS``, see
``vmlab.isa.arch``). Each set keeps its ways in use order, most recent in way 0, and way 0 of set
``s`` sits at index ``s``: a hit there needs no bookkeeping. The core's hot path
(``vmlab.core.cpu.run``) keeps a copy of the last page each kind of access hit and calls
``tlb_hit`` when the page changes: it checks every way of the set (a load/store hit moves the
entry to way 0) and needs nothing but the state array. ``translate`` does the same and calls
``walk`` on a miss.
Both return a non-negative physical address (with ``IO_FLAG`` set for a device page) or one of the
negative ``FAULT_*`` codes. A walk counts its memory references in ``STAT_WALK_REFS`` (the core
charges ``WALK_REF_CYCLES`` for each).
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
    """Make ``(tag, data)`` the most recent entry of set ``s``: ways 0..k-1 move down one, over k.

    With ``k`` the way that held the page this is an LRU hit; with the last way, an eviction.
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
    k = TLB_WAYS - 1  # evict the least recently used way, unless the page is already in the set
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
def tlb_hit(st: np.ndarray, va: int, need: int, reorder: bool) -> int:
    """The address ``va`` translates to if the TLB holds its page with the ``need`` bits, else -1.

    Every way of the page's set is checked. With ``reorder`` a hit outside way 0 makes the entry
    the most recent (LRU). The result has ``IO_FLAG`` set for a device page. Only ``st`` is
    passed, so the core calls this from its hot path for a fraction of the cost of ``translate``.
    """
    vpn = va >> 12
    s = vpn & TLB_SET_MASK
    for w in range(TLB_WAYS):
        if st[ST_TLB_TAG + w * TLB_SETS + s] == vpn:
            data = st[ST_TLB_DATA + w * TLB_SETS + s]
            if data & need != need:
                return -1
            if w and reorder:
                _tlb_use(st, s, w, vpn, data)
            pa = (data & ~0xFFF) | (va & 0xFFF)
            if data & TLB_IO:
                return pa | IO_FLAG
            return pa
    return -1


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

    A load or store hit moves the entry to way 0 (most recent); a fetch hit leaves the use order
    alone: the core calls this for a fetch whenever its one-page fetch cache is empty, which
    depends on where a run started, and the TLB's state must not (a run split into pieces must
    behave exactly as one run). A page present without the needed permission (say, a first write
    to a clean page, which must set D) walks again: the walk sets A/D or faults.
    """
    if acc == ACCESS_FETCH:
        need = TLB_X
    elif acc == ACCESS_STORE:
        need = TLB_W | TLB_D
    else:
        need = TLB_R
    if user:
        need |= TLB_U
    pa = tlb_hit(st, va, need, acc != ACCESS_FETCH)
    if pa >= 0:
        return pa
    return walk(st, mem, dcache, dirty, p2m, va, acc, user, bank, guest)
