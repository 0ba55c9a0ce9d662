"""The VL32 processor: ``run`` executes guest instructions until something needs the layer above.

Hot path (keep it lean): the loop in ``run``: the event check (one compare: interrupts, the cycle
limit and the instruction budget all come due at ``ev``, see ``next_event``), the fetch
(fetch window, then the TLB), loads and stores (load and store windows, then the TLB through
``vmlab.core.mmu.tlb_hit``), the decode-cache lookup and the if/elif chain on the opcode,
which LLVM turns into a jump table. Nothing in it may allocate, call into Python, or touch more
than the arrays it is given. Slow paths (page walks, device registers, traps, CSRs) are separate
jitted functions. ``run`` mirrors KVM's ``KVM_RUN``: it returns an exit reason (``layout.EXIT_*``)
with details in ``st[ST_EXIT:]``, and leaves the PC on the instruction that caused the exit unless
the reason says otherwise.

Registers hold unsigned 32-bit values in an int64 array (so one mask wraps them, and the pure-Python
reference mode never overflows); signed operations flip the sign bit or sign-extend explicitly.
"""

from __future__ import annotations

import sys

import numpy as np

from .._jit import kernel
from ..devices.console import console_read, console_write
from ..devices.disk import NEEDS_HOST, disk_read, disk_write
from ..devices.memmap import CONSOLE_BASE, DISK_BASE, POWER_BASE, TIMER_BASE
from ..devices.power import power_read, power_write
from ..devices.timer import timer_read, timer_write
from ..isa.arch import (
    A0,
    CAUSE_ACCESS_FAULT,
    CAUSE_BREAKPOINT,
    CAUSE_FETCH_PAGE_FAULT,
    CAUSE_ILLEGAL,
    CAUSE_LOAD_PAGE_FAULT,
    CAUSE_MISALIGNED_FETCH,
    CAUSE_MISALIGNED_LOAD,
    CAUSE_MISALIGNED_STORE,
    CAUSE_PRIVILEGED,
    CAUSE_STORE_PAGE_FAULT,
    CAUSE_SYSCALL,
    CSR_CAUSE,
    CSR_CYCLE,
    CSR_CYCLEH,
    CSR_EPC,
    CSR_IE,
    CSR_INSTRET,
    CSR_INSTRETH,
    CSR_IP,
    CSR_PTBR,
    CSR_STATUS,
    CSR_TIMECMP,
    CSR_TIMECMPH,
    CSR_TVAL,
    CSR_TVEC,
    INTERRUPT,
    IRQ_CONSOLE,
    IRQ_DISK,
    IRQ_TIMER,
    NUM_IRQS,
    ST_IE,
    ST_MODE,
    ST_PG,
    ST_PIE,
    ST_PMODE,
    ST_WRITABLE,
    TRAP_CYCLES,
    WALK_REF_CYCLES,
)
from ..isa.table import OPCODE
from .decode import (
    CYCLES,
    KIND_B,
    KIND_BU,
    KIND_H,
    KIND_HU,
    KIND_W,
    OP_BTCALL,
    OP_HOSTBP,
    OP_ILLEGAL,
    decode,
)
from .layout import (
    ACCESS_FETCH,
    ACCESS_LOAD,
    ACCESS_STORE,
    DEV_CON_CTRL,
    DEV_CON_IN_HEAD,
    DEV_CON_IN_TAIL,
    DEV_DSK_CTRL,
    DEV_DSK_STATUS,
    DEV_PWR_EXIT_CODE,
    EXIT_BREAKPOINT,
    EXIT_BT,
    EXIT_BUDGET,
    EXIT_CONSOLE,
    EXIT_FAULT,
    EXIT_GUEST_TRAP,
    EXIT_HALT,
    EXIT_HCALL,
    EXIT_IDLE,
    EXIT_MMIO,
    EXIT_NPF,
    EXIT_PRIV,
    EXIT_TRANSLATE,
    ST_CSR,
    ST_EXIT,
    ST_GCSR,
    ST_PC,
    ST_RAMSIZE,
    ST_STRICT,
    ST_VMCTL,
    STAT_CAUSES,
    STAT_CYCLES,
    STAT_EXITS,
    STAT_IDLE_CYCLES,
    STAT_INSTRUCTIONS,
    STAT_INTERRUPTS,
    STAT_IRQS,
    STAT_MMIO,
    STAT_TLB_MISSES,
    STAT_TRAPS,
    STAT_WALK_REFS,
    TLB_D,
    TLB_R,
    TLB_U,
    TLB_W,
    TLB_X,
    VM_DEPRIV,
    VM_EXIT_IDLE,
    VM_EXIT_MMIO,
    VM_EXIT_TRAP,
    VM_GUEST,
    VM_TRANSLATE,
)
from .mmu import (
    FAULT_ACCESS,
    FAULT_NPF,
    FAULT_PAGE,
    IO_FLAG,
    PA_MASK,
    WINDOW_SHIFT,
    tlb_flush,
    tlb_hit,
    translate,
)

M32 = 0xFFFFFFFF
SIGN = 0x80000000
NO_LIMIT = 1 << 62

if sys.byteorder != "little":  # the core reads and writes RAM's bytes and halves in place
    raise ImportError("vmlab's core needs a little-endian host (VL32 is little-endian)")

OP_ADD = OPCODE["add"]
OP_SUB = OPCODE["sub"]
OP_AND = OPCODE["and"]
OP_OR = OPCODE["or"]
OP_XOR = OPCODE["xor"]
OP_SLL = OPCODE["sll"]
OP_SRL = OPCODE["srl"]
OP_SRA = OPCODE["sra"]
OP_SLT = OPCODE["slt"]
OP_SLTU = OPCODE["sltu"]
OP_MUL = OPCODE["mul"]
OP_MULH = OPCODE["mulh"]
OP_MULHU = OPCODE["mulhu"]
OP_DIV = OPCODE["div"]
OP_DIVU = OPCODE["divu"]
OP_REM = OPCODE["rem"]
OP_REMU = OPCODE["remu"]
OP_ADDI = OPCODE["addi"]
OP_ANDI = OPCODE["andi"]
OP_ORI = OPCODE["ori"]
OP_XORI = OPCODE["xori"]
OP_SLTI = OPCODE["slti"]
OP_SLTIU = OPCODE["sltiu"]
OP_SLLI = OPCODE["slli"]
OP_SRLI = OPCODE["srli"]
OP_SRAI = OPCODE["srai"]
OP_LUI = OPCODE["lui"]
OP_LW = OPCODE["lw"]  # every load (see decode)
OP_SW = OPCODE["sw"]  # every store (see decode)
OP_BEQ = OPCODE["beq"]
OP_BNE = OPCODE["bne"]
OP_BLT = OPCODE["blt"]
OP_BGE = OPCODE["bge"]
OP_BLTU = OPCODE["bltu"]
OP_BGEU = OPCODE["bgeu"]
OP_JAL = OPCODE["jal"]
OP_JALR = OPCODE["jalr"]
OP_SYSCALL = OPCODE["syscall"]
OP_BREAK = OPCODE["break"]
OP_HCALL = OPCODE["hcall"]
OP_ERET = OPCODE["eret"]
OP_WFI = OPCODE["wfi"]
OP_HALT = OPCODE["halt"]
OP_TLBFLUSH = OPCODE["tlbflush"]
OP_CSRR = OPCODE["csrr"]
OP_CSRW = OPCODE["csrw"]
OP_CSRRW = OPCODE["csrrw"]
OP_CSRS = OPCODE["csrs"]
OP_CSRC = OPCODE["csrc"]

CAUSE_MISALIGNED = np.array(
    [CAUSE_MISALIGNED_FETCH, CAUSE_MISALIGNED_LOAD, CAUSE_MISALIGNED_STORE], dtype=np.int64
)
CAUSE_PAGE_FAULT = np.array(
    [CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT], dtype=np.int64
)
KIND_SIZE = np.array([4, 1, 2, 1, 2], dtype=np.int64)
ALIGN = KIND_SIZE - 1  # address bits that must be zero for an access of each kind
MMIO_EXIT = -5  # mem_slow result: the guest's device access must exit to the hypervisor
CONSOLE_FULL = -6  # mem_slow result: console buffer full, exit so the host can drain it
STOP_POWER = -7  # mem_slow result: a power-controller write stops the machine (st[ST_EXIT])
MISALIGNED = -4


@kernel
def pending_irqs(st: np.ndarray, bank: int, cyc: int) -> int:
    """The interrupt lines pending at cycle ``cyc`` (the ``ip`` CSR)."""
    ip = 0
    if cyc >= st[bank + CSR_TIMECMP]:
        ip |= 1 << IRQ_TIMER
    if st[DEV_CON_CTRL] & 1 and st[DEV_CON_IN_HEAD] < st[DEV_CON_IN_TAIL]:
        ip |= 1 << IRQ_CONSOLE
    if st[DEV_DSK_STATUS] & 0x100 and st[DEV_DSK_CTRL] & 1:
        ip |= 1 << IRQ_DISK
    return ip


@kernel
def next_event(st: np.ndarray, bank: int, cyc: int, limit: int, left: int) -> int:
    """The earliest cycle at which the run loop must look at interrupts or its budgets.

    ``left`` is the instruction budget still unused. Every instruction that does not end the
    run costs at least one cycle, so at most ``left`` instructions run before ``cyc + left``:
    the loop checks its instruction budget there, not on every instruction.
    """
    if st[bank + CSR_STATUS] & ST_IE and pending_irqs(st, bank, cyc) & st[bank + CSR_IE]:
        return cyc
    t = st[bank + CSR_TIMECMP]
    ev = t if t > cyc and t < limit else limit
    if ev - cyc > left:
        return cyc + left
    return ev


@kernel
def enter_trap(st: np.ndarray, bank: int, pc: int, cause: int, tval: int) -> int:
    """Deliver a trap on ``bank``: save pc/mode/ie, switch to kernel mode; returns the vector."""
    tvec = st[bank + CSR_TVEC]
    if tvec == 0:
        return -1
    s = st[bank + CSR_STATUS]
    prev = ((s & ST_MODE) << 2) | ((s & ST_IE) << 2)  # MODE -> PMODE, IE -> PIE
    st[bank + CSR_STATUS] = (s & ~(ST_MODE | ST_IE | ST_PMODE | ST_PIE)) | ST_MODE | prev
    st[bank + CSR_EPC] = pc
    st[bank + CSR_CAUSE] = cause
    st[bank + CSR_TVAL] = tval & M32
    return tvec


@kernel
def mmio_read(
    st: np.ndarray, bank: int, pa: int, cyc: int, conin: np.ndarray, disk: np.ndarray
) -> int:
    """Read a device register at physical address ``pa``: its value, or -1 for an access fault."""
    dev = pa & ~0xFFF
    off = pa & 0xFFF
    if dev == CONSOLE_BASE:
        return console_read(st, off, conin)
    if dev == TIMER_BASE:
        return timer_read(st, bank, off, cyc)
    if dev == DISK_BASE:
        return disk_read(st, off, disk)
    if dev == POWER_BASE:
        return power_read(st, off)
    return -1


@kernel
def mmio_write(
    st: np.ndarray,
    bank: int,
    pa: int,
    value: int,
    cyc: int,
    mem: np.ndarray,
    dcache: np.ndarray,
    dirty: np.ndarray,
    p2m: np.ndarray,
    conout: np.ndarray,
    disk: np.ndarray,
    guest: bool,
) -> int:
    """Write a device register: extra cycles (>= 0) or a negative FAULT_*/exit request."""
    dev = pa & ~0xFFF
    off = pa & 0xFFF
    if dev == CONSOLE_BASE:
        r = console_write(st, off, value, conout)
        if r == 1:
            return CONSOLE_FULL
        return r if r < 0 else 0
    if dev == TIMER_BASE:
        return timer_write(st, bank, off, value, cyc)
    if dev == DISK_BASE:
        r = disk_write(st, off, value, mem, dcache, dirty, p2m, disk, guest, st[ST_RAMSIZE])
        if r == NEEDS_HOST:
            return FAULT_NPF
        return r
    if dev == POWER_BASE:
        r = power_write(st, off, value)
        if r > 0:
            st[ST_EXIT + 2] = r
            return STOP_POWER
        return r
    return -1


@kernel
def read_csr(st: np.ndarray, bank: int, num: int, cyc: int, n: int) -> int:
    """The value a ``csr*`` instruction reads from CSR ``num`` (counters include this run so far)."""
    if num == CSR_CYCLE:
        return cyc & M32
    if num == CSR_CYCLEH:
        return (cyc >> 32) & M32
    if num == CSR_INSTRET:
        return (st[bank + CSR_INSTRET] + n) & M32
    if num == CSR_INSTRETH:
        return ((st[bank + CSR_INSTRET] + n) >> 32) & M32
    if num == CSR_TIMECMP:
        return st[bank + CSR_TIMECMP] & M32
    if num == CSR_TIMECMPH:
        return (st[bank + CSR_TIMECMP] >> 32) & M32
    if num == CSR_IP:
        return pending_irqs(st, bank, cyc)
    return st[bank + num] & M32


@kernel
def write_csr(st: np.ndarray, bank: int, num: int, value: int) -> bool:
    """Write CSR ``num`` as a ``csr*`` instruction does; False if it is read-only (illegal)."""
    if num == CSR_IP or num == CSR_CYCLE or num == CSR_CYCLEH:
        return False
    if num == CSR_INSTRET or num == CSR_INSTRETH:
        return False
    if num == CSR_STATUS:
        st[bank + CSR_STATUS] = value & ST_WRITABLE
        tlb_flush(st)
    elif num == CSR_PTBR:
        st[bank + CSR_PTBR] = value & 0xFFFFF000
        tlb_flush(st)
    elif num == CSR_TIMECMP:
        st[bank + CSR_TIMECMP] = value & M32
    elif num == CSR_TIMECMPH:
        st[bank + CSR_TIMECMP] = ((value & 0x7FFFFFFF) << 32) | (st[bank + CSR_TIMECMP] & M32)
    elif num == CSR_IE:
        st[bank + CSR_IE] = value & ((1 << NUM_IRQS) - 1)
    elif num == CSR_TVEC or num == CSR_EPC:
        st[bank + num] = value & 0xFFFFFFFC
    else:
        st[bank + num] = value & M32
    return True


@kernel
def mem_slow(
    st: np.ndarray,
    mem: np.ndarray,
    dcache: np.ndarray,
    dirty: np.ndarray,
    p2m: np.ndarray,
    conin: np.ndarray,
    conout: np.ndarray,
    disk: np.ndarray,
    va: int,
    kind: int,
    value: int,
    acc: int,
    user: bool,
    bank: int,
    guest: bool,
    xlate: bool,
    cyc: int,
) -> int:
    """A load (its value) or store (extra cycles) the fast path did not handle; < 0 on a fault."""
    size = KIND_SIZE[kind]
    if va & (size - 1):
        return MISALIGNED
    if xlate:
        pa = translate(st, mem, dcache, dirty, p2m, va, acc, user, bank, guest)
        if pa < 0:
            return pa
    elif va < st[ST_RAMSIZE]:
        pa = va
    elif va >= 0xF0000000 and va < 0xF0004000:
        pa = va | IO_FLAG
    else:
        return FAULT_ACCESS
    if pa & IO_FLAG:
        pa &= ~IO_FLAG
        if size != 4:
            return FAULT_ACCESS
        if guest and st[ST_VMCTL] & VM_EXIT_MMIO:
            st[ST_EXIT + 2] = pa
            st[ST_EXIT + 3] = 1 if acc == ACCESS_STORE else 0
            return MMIO_EXIT
        st[STAT_MMIO] += 1
        if acc == ACCESS_STORE:
            r = mmio_write(st, bank, pa, value, cyc, mem, dcache, dirty, p2m, conout, disk, guest)
        else:
            r = mmio_read(st, bank, pa, cyc, conin, disk)
        return FAULT_ACCESS if r == -1 else r
    widx = pa >> 2
    sh = (pa & 3) * 8
    if acc == ACCESS_STORE:
        if size == 4:
            mem[widx] = value & M32
        else:
            mask = ((1 << (8 * size)) - 1) << sh
            mem[widx] = (int(mem[widx]) & ~mask & M32) | ((value << sh) & mask)
        dcache[widx] = 0
        dirty[pa >> 12] = 1
        return 0
    w = (int(mem[widx]) >> sh) & ((1 << (8 * size)) - 1)
    if kind == KIND_B:
        w = (w - ((w & 0x80) << 1)) & M32
    elif kind == KIND_H:
        w = (w - ((w & 0x8000) << 1)) & M32
    return w


@kernel
def run(
    regs: np.ndarray,
    st: np.ndarray,
    mem: np.ndarray,
    dcache: np.ndarray,
    p2m: np.ndarray,
    dirty: np.ndarray,
    conout: np.ndarray,
    conin: np.ndarray,
    disk: np.ndarray,
    max_instructions: int,
    max_cycles: int,
) -> int:
    """Run until an exit; returns the exit reason (details in ``st[ST_EXIT:]``)."""
    vmctl = st[ST_VMCTL]
    guest = (vmctl & VM_GUEST) != 0
    depriv = guest and (vmctl & VM_DEPRIV) != 0
    exit_trap = guest and (vmctl & VM_EXIT_TRAP) != 0
    strict = st[ST_STRICT] != 0
    b = ST_GCSR if guest else ST_CSR
    ramsize = st[ST_RAMSIZE]
    mem8 = mem.view(np.uint8)  # the same RAM by byte and by half (the host is little-endian)
    mem16 = mem.view(np.uint16)
    pc = st[ST_PC]
    cyc0 = st[b + CSR_CYCLE]
    cyc = cyc0
    limit = cyc0 + max_cycles if max_cycles < NO_LIMIT else NO_LIMIT
    idle = 0
    n = 0
    if (
        st[ST_EXIT] == EXIT_IDLE
        and st[ST_EXIT + 1] == pc
        and max_instructions > 0
        and pending_irqs(st, b, cyc) & st[b + CSR_IE] != 0
    ):
        # resuming the wfi that ended the last run as idle: now that an enabled line is
        # pending it completes, as it would have while sleeping (an interrupt returns after it)
        pc = (pc + 4) & M32
        cyc += CYCLES[OP_WFI]
        n = 1
    status = st[b + CSR_STATUS]
    user = (status & ST_MODE) == 0
    xlate = guest or (status & ST_PG) != 0
    ev = next_event(st, b, cyc, limit, max_instructions - n)
    # Windows: an address a with (a ^ tag) < size is at a + off in mem, with nothing else to
    # check. The same code serves every case: without translation a window is all of RAM (tag
    # 0, size ramsize), with it the aligned block of pages ``tlb_hit`` vouched for: 1 to
    # 2**WINDOW_MAX_LOG2 pages, every one in the TLB with the permission the access needs and
    # mapped in order (tag the block's base, size its bytes). A size of 0 empties a window.
    # A TLB hit changes nothing in the TLB (replacement is in fill order), so using a window is
    # exactly a run of hits; only a walk or a flush changes the TLB, and they empty the windows.
    # The fetch window (f_*) serves fetches (4-aligned pcs only: a jalr to a misaligned target
    # empties it), the load (ld_*) and store (sd_*) windows serve loads and stores. All three
    # are emptied on a flush and a mode switch (the U permission), the fetch window after any
    # data walk, the load and store windows whenever an access takes the slow path.
    f_tag = f_off = f_size = 0
    ld_tag = ld_off = ld_size = 0
    sd_tag = sd_off = sd_size = 0
    reason = EXIT_BUDGET
    exc = 0  # exception cause raised by the current instruction (0: none)
    tval = 0
    while True:
        # ---- events: budgets and interrupts ----------------------------------------------
        if cyc >= ev:
            if n >= max_instructions or cyc >= limit:
                break
            ip = pending_irqs(st, b, cyc) & st[b + CSR_IE]
            if ip != 0 and st[b + CSR_STATUS] & ST_IE:
                line = 0
                while (ip >> line) & 1 == 0:
                    line += 1
                if exit_trap:
                    st[ST_EXIT + 2] = INTERRUPT | line
                    st[ST_EXIT + 3] = 0
                    reason = EXIT_GUEST_TRAP
                    break
                vec = enter_trap(st, b, pc, INTERRUPT | line, 0)
                if vec < 0:
                    st[ST_EXIT + 2] = INTERRUPT | line
                    st[ST_EXIT + 3] = 0
                    reason = EXIT_FAULT
                    break
                pc = vec
                cyc += TRAP_CYCLES
                st[STAT_INTERRUPTS] += 1
                st[STAT_IRQS + line] += 1
                status = st[b + CSR_STATUS]
                user = False
                f_size = 0
                ld_size = sd_size = 0
            ev = next_event(st, b, cyc, limit, max_instructions - n)
            continue
        # ---- fetch ---------------------------------------------------------------------
        n += 1  # every attempt counts, even one that faults (so a fault loop cannot hang)
        if (pc ^ f_tag) < f_size:
            pa = pc + f_off
        elif pc & 3:
            exc = CAUSE_MISALIGNED_FETCH
            tval = pc
            pa = -1
        elif xlate:
            pa = tlb_hit(st, pc, TLB_X | (TLB_U if user else 0), f_tag, f_size)
            if pa < 0 or pa & IO_FLAG:
                refs = st[STAT_WALK_REFS]
                pa = translate(st, mem, dcache, dirty, p2m, pc, ACCESS_FETCH, user, b, guest)
                cyc += (st[STAT_WALK_REFS] - refs) * WALK_REF_CYCLES
                ld_size = sd_size = 0  # the TLB may have changed
            if pa >= 0 and pa & IO_FLAG == 0:
                f_size = 4096 << (pa >> WINDOW_SHIFT)
                pa &= PA_MASK
                f_tag = pc & -f_size
                f_off = pa - pc
            elif pa == FAULT_NPF:
                reason = EXIT_NPF
                n -= 1
                break
            else:
                exc = CAUSE_FETCH_PAGE_FAULT if pa == FAULT_PAGE else CAUSE_ACCESS_FAULT
                tval = pc
                pa = -1
        elif pc < ramsize:
            pa = pc
            f_tag = f_off = 0
            f_size = ramsize
        else:
            exc = CAUSE_ACCESS_FAULT
            tval = pc
            pa = -1
        if pa >= 0:
            d = dcache[pa >> 2]
            if d == 0:
                if vmctl & VM_TRANSLATE:
                    st[ST_EXIT + 2] = pa
                    reason = EXIT_TRANSLATE
                    n -= 1
                    break
                d = decode(int(mem[pa >> 2]), pa, st)
                dcache[pa >> 2] = d
            op = d & 0xFF
            rd = (d >> 8) & 0xFF
            rs1 = (d >> 16) & 0xFF
            rs2 = (d >> 24) & 0xFF
            imm = d >> 32
            cyc += CYCLES[op]
            npc = pc + 4
            # ---- execute -----------------------------------------------------------------
            if op == OP_ADDI:
                regs[rd] = (regs[rs1] + imm) & M32
            elif op == OP_ADD:
                regs[rd] = (regs[rs1] + regs[rs2]) & M32
            elif op == OP_LW:
                va = (regs[rs1] + imm) & M32
                dpa = -1
                if va & ALIGN[rs2] == 0:
                    if (va ^ ld_tag) < ld_size:
                        dpa = va + ld_off
                    elif xlate:
                        dpa = tlb_hit(st, va, TLB_R | (TLB_U if user else 0), ld_tag, ld_size)
                        if dpa >= 0 and dpa & IO_FLAG == 0:
                            ld_size = 4096 << (dpa >> WINDOW_SHIFT)
                            dpa &= PA_MASK
                            ld_tag = va & -ld_size
                            ld_off = dpa - va
                        else:
                            dpa = -1
                    elif va < ramsize:
                        dpa = va
                        ld_tag = ld_off = 0
                        ld_size = ramsize
                if dpa >= 0:
                    if rs2 == KIND_W:
                        w = int(mem[dpa >> 2])
                    elif rs2 == KIND_BU:
                        w = int(mem8[dpa])
                    elif rs2 == KIND_HU:
                        w = int(mem16[dpa >> 1])
                    elif rs2 == KIND_B:
                        w = int(mem8[dpa])
                        w = (w - ((w & 0x80) << 1)) & M32
                    else:
                        w = int(mem16[dpa >> 1])
                        w = (w - ((w & 0x8000) << 1)) & M32
                    regs[rd] = w
                else:
                    misses = st[STAT_TLB_MISSES]
                    refs = st[STAT_WALK_REFS]
                    w = mem_slow(
                        st,
                        mem,
                        dcache,
                        dirty,
                        p2m,
                        conin,
                        conout,
                        disk,
                        va,
                        rs2,
                        0,
                        ACCESS_LOAD,
                        user,
                        b,
                        guest,
                        xlate,
                        cyc,
                    )
                    ld_size = sd_size = 0  # the TLB may have changed
                    if st[STAT_TLB_MISSES] != misses:
                        cyc += (st[STAT_WALK_REFS] - refs) * WALK_REF_CYCLES
                        f_size = 0  # the walk may have evicted the fetch page's TLB entry
                    if w >= 0:
                        regs[rd] = w
                    elif w == MMIO_EXIT:
                        st[ST_EXIT + 4] = rd
                        st[ST_EXIT + 5] = int(mem[pa >> 2])  # the instruction word
                        reason = EXIT_MMIO
                        n -= 1
                        cyc -= CYCLES[op]
                        break
                    elif w == FAULT_NPF:
                        reason = EXIT_NPF
                        n -= 1
                        cyc -= CYCLES[op]
                        break
                    else:
                        tval = va
                        if w == MISALIGNED:
                            exc = CAUSE_MISALIGNED_LOAD
                        elif w == FAULT_PAGE:
                            exc = CAUSE_LOAD_PAGE_FAULT
                        else:
                            exc = CAUSE_ACCESS_FAULT
            elif op == OP_SW:
                va = (regs[rs1] + imm) & M32
                val = regs[rs2]
                dpa = -1
                if va & ALIGN[rd] == 0:
                    if (va ^ sd_tag) < sd_size:
                        dpa = va + sd_off
                    elif xlate:
                        dpa = tlb_hit(
                            st, va, TLB_W | TLB_D | (TLB_U if user else 0), sd_tag, sd_size
                        )
                        if dpa >= 0 and dpa & IO_FLAG == 0:
                            sd_size = 4096 << (dpa >> WINDOW_SHIFT)
                            dpa &= PA_MASK
                            sd_tag = va & -sd_size
                            sd_off = dpa - va
                        else:
                            dpa = -1
                    elif va < ramsize:
                        dpa = va
                        sd_tag = sd_off = 0
                        sd_size = ramsize
                if dpa >= 0:
                    widx = dpa >> 2
                    if rd == KIND_W:
                        mem[widx] = val
                    elif rd == KIND_B:
                        mem8[dpa] = val & 0xFF
                    else:
                        mem16[dpa >> 1] = val & 0xFFFF
                    dcache[widx] = 0
                    dirty[dpa >> 12] = 1
                else:
                    misses = st[STAT_TLB_MISSES]
                    refs = st[STAT_WALK_REFS]
                    w = mem_slow(
                        st,
                        mem,
                        dcache,
                        dirty,
                        p2m,
                        conin,
                        conout,
                        disk,
                        va,
                        rd,
                        val,
                        ACCESS_STORE,
                        user,
                        b,
                        guest,
                        xlate,
                        cyc,
                    )
                    ld_size = sd_size = 0  # the TLB may have changed
                    if st[STAT_TLB_MISSES] != misses:
                        cyc += (st[STAT_WALK_REFS] - refs) * WALK_REF_CYCLES
                        f_size = 0  # the walk may have evicted the fetch page's TLB entry
                    if w >= 0:
                        cyc += w
                        ev = cyc  # a device may have raised or cleared an interrupt
                    elif w == MMIO_EXIT:
                        st[ST_EXIT + 4] = val
                        st[ST_EXIT + 5] = int(mem[pa >> 2])  # the instruction word
                        reason = EXIT_MMIO
                        n -= 1
                        cyc -= CYCLES[op]
                        break
                    elif w == FAULT_NPF:
                        reason = EXIT_NPF
                        n -= 1
                        cyc -= CYCLES[op]
                        break
                    elif w == CONSOLE_FULL:
                        reason = EXIT_CONSOLE
                        n -= 1
                        cyc -= CYCLES[op]
                        break
                    elif w == STOP_POWER:
                        reason = st[ST_EXIT + 2]
                        st[ST_EXIT + 2] = st[DEV_PWR_EXIT_CODE]
                        pc = npc
                        break
                    else:
                        tval = va
                        if w == MISALIGNED:
                            exc = CAUSE_MISALIGNED_STORE
                        elif w == FAULT_PAGE:
                            exc = CAUSE_STORE_PAGE_FAULT
                        else:
                            exc = CAUSE_ACCESS_FAULT
            elif op == OP_BNE:
                if regs[rs1] != regs[rs2]:
                    npc = (pc + imm) & M32
            elif op == OP_BEQ:
                if regs[rs1] == regs[rs2]:
                    npc = (pc + imm) & M32
            elif op == OP_BLT:
                if (regs[rs1] ^ SIGN) < (regs[rs2] ^ SIGN):
                    npc = (pc + imm) & M32
            elif op == OP_BGE:
                if (regs[rs1] ^ SIGN) >= (regs[rs2] ^ SIGN):
                    npc = (pc + imm) & M32
            elif op == OP_BLTU:
                if regs[rs1] < regs[rs2]:
                    npc = (pc + imm) & M32
            elif op == OP_BGEU:
                if regs[rs1] >= regs[rs2]:
                    npc = (pc + imm) & M32
            elif op == OP_JAL:
                regs[rd] = npc & M32
                npc = (pc + imm) & M32
            elif op == OP_JALR:
                target = (regs[rs1] + imm) & M32
                regs[rd] = npc & M32
                npc = target
                if target & 3:
                    f_size = 0  # so that the fetch raises a misaligned-fetch trap
            elif op == OP_SUB:
                regs[rd] = (regs[rs1] - regs[rs2]) & M32
            elif op == OP_AND:
                regs[rd] = regs[rs1] & regs[rs2]
            elif op == OP_OR:
                regs[rd] = regs[rs1] | regs[rs2]
            elif op == OP_XOR:
                regs[rd] = regs[rs1] ^ regs[rs2]
            elif op == OP_SLL:
                regs[rd] = (regs[rs1] << (regs[rs2] & 31)) & M32
            elif op == OP_SRL:
                regs[rd] = regs[rs1] >> (regs[rs2] & 31)
            elif op == OP_SRA:
                a = regs[rs1]
                regs[rd] = ((a - ((a & SIGN) << 1)) >> (regs[rs2] & 31)) & M32
            elif op == OP_SLT:
                regs[rd] = 1 if (regs[rs1] ^ SIGN) < (regs[rs2] ^ SIGN) else 0
            elif op == OP_SLTU:
                regs[rd] = 1 if regs[rs1] < regs[rs2] else 0
            elif op == OP_ANDI:
                regs[rd] = regs[rs1] & imm
            elif op == OP_ORI:
                regs[rd] = regs[rs1] | imm
            elif op == OP_XORI:
                regs[rd] = regs[rs1] ^ imm
            elif op == OP_SLTI:
                regs[rd] = 1 if (regs[rs1] ^ SIGN) < ((imm & M32) ^ SIGN) else 0
            elif op == OP_SLTIU:
                regs[rd] = 1 if regs[rs1] < (imm & M32) else 0
            elif op == OP_SLLI:
                regs[rd] = (regs[rs1] << imm) & M32
            elif op == OP_SRLI:
                regs[rd] = regs[rs1] >> imm
            elif op == OP_SRAI:
                a = regs[rs1]
                regs[rd] = ((a - ((a & SIGN) << 1)) >> imm) & M32
            elif op == OP_LUI:
                regs[rd] = imm & M32
            elif op == OP_MUL or op == OP_MULH or op == OP_MULHU:
                a = regs[rs1]
                c = regs[rs2]
                sa = a - ((a & SIGN) << 1)
                sc = c - ((c & SIGN) << 1)
                p = sa * sc  # |p| <= 2**62: exact in int64
                if op == OP_MUL:
                    regs[rd] = p & M32
                elif op == OP_MULH:
                    regs[rd] = (p >> 32) & M32
                else:
                    hi = (p >> 32) + (c if sa < 0 else 0) + (a if sc < 0 else 0)
                    regs[rd] = hi & M32
            elif op == OP_DIV or op == OP_REM:
                a = regs[rs1]
                c = regs[rs2]
                sa = a - ((a & SIGN) << 1)
                sc = c - ((c & SIGN) << 1)
                if sc == 0:
                    q = -1
                    r = sa
                elif sa == -SIGN and sc == -1:
                    q = sa
                    r = 0
                else:
                    q = abs(sa) // abs(sc)
                    if (sa < 0) != (sc < 0):
                        q = -q
                    r = sa - q * sc
                regs[rd] = (q if op == OP_DIV else r) & M32
            elif op == OP_DIVU or op == OP_REMU:
                a = regs[rs1]
                c = regs[rs2]
                if c == 0:
                    regs[rd] = M32 if op == OP_DIVU else a
                else:
                    regs[rd] = a // c if op == OP_DIVU else a % c
            elif op == OP_SYSCALL:
                exc = CAUSE_SYSCALL
                tval = 0
            elif op == OP_BREAK:
                exc = CAUSE_BREAKPOINT
                tval = 0
            elif op == OP_HCALL:
                if guest:
                    st[ST_EXIT + 2] = regs[A0]
                    reason = EXIT_HCALL
                    n -= 1
                    cyc -= CYCLES[op]
                    break
                exc = CAUSE_ILLEGAL
                tval = int(mem[pa >> 2])
            elif op == OP_HOSTBP:
                reason = EXIT_BREAKPOINT
                n -= 1
                break
            elif op == OP_BTCALL:
                st[ST_EXIT + 2] = int(mem[pa >> 2])
                reason = EXIT_BT
                n -= 1
                cyc -= CYCLES[op]
                break
            elif op == OP_ILLEGAL:
                exc = CAUSE_ILLEGAL
                tval = int(mem[pa >> 2])
            else:
                # ---- privileged instructions (CSR access, eret, wfi, halt, tlbflush) ----
                sensitive_read = op == OP_CSRR and imm == CSR_STATUS and not strict
                if user and not sensitive_read:
                    exc = CAUSE_PRIVILEGED
                    tval = int(mem[pa >> 2])
                elif depriv and not sensitive_read:
                    st[ST_EXIT + 2] = int(mem[pa >> 2])
                    reason = EXIT_PRIV
                    n -= 1
                    cyc -= CYCLES[op]
                    break
                elif sensitive_read:
                    # the "real" status: this bank's in user mode, the host's when deprivileged
                    regs[rd] = st[(ST_CSR if depriv else b) + CSR_STATUS] & M32
                elif op == OP_CSRR:
                    regs[rd] = read_csr(st, b, imm, cyc, n)
                elif op == OP_CSRW or op == OP_CSRRW or op == OP_CSRS or op == OP_CSRC:
                    old = read_csr(st, b, imm, cyc, n)
                    v = regs[rs1]
                    if op == OP_CSRS:
                        v = old | v
                    elif op == OP_CSRC:
                        v = old & (M32 ^ v)
                    if write_csr(st, b, imm, v):
                        if op == OP_CSRRW:
                            regs[rd] = old
                        status = st[b + CSR_STATUS]
                        user = (status & ST_MODE) == 0
                        xlate = guest or (status & ST_PG) != 0
                        f_size = 0
                        ld_size = sd_size = 0
                        ev = cyc
                    else:
                        exc = CAUSE_ILLEGAL
                        tval = int(mem[pa >> 2])
                elif op == OP_ERET:
                    s = st[b + CSR_STATUS]
                    mode = (s & ST_PMODE) >> 2
                    ie = (s & ST_PIE) >> 2
                    st[b + CSR_STATUS] = (s & ~(ST_MODE | ST_IE)) | mode | ie
                    npc = st[b + CSR_EPC]
                    status = st[b + CSR_STATUS]
                    user = (status & ST_MODE) == 0
                    f_size = 0
                    ld_size = sd_size = 0
                    ev = cyc
                elif op == OP_WFI:
                    if pending_irqs(st, b, cyc) & st[b + CSR_IE] == 0:
                        t = st[b + CSR_TIMECMP]
                        armed = st[b + CSR_IE] & (1 << IRQ_TIMER) != 0 and t > cyc and t < NO_LIMIT
                        if guest and vmctl & VM_EXIT_IDLE:
                            reason = EXIT_IDLE
                            n -= 1
                            cyc -= CYCLES[op]
                            break
                        if not armed:
                            reason = EXIT_IDLE
                            n -= 1
                            cyc -= CYCLES[op]
                            break
                        if t > limit:  # sleep to the end of this run; wfi runs again next time
                            n -= 1
                            cyc -= CYCLES[op]
                            idle += limit - cyc
                            cyc = limit
                            break
                        idle += t - cyc
                        cyc = t
                    ev = cyc
                elif op == OP_HALT:
                    st[ST_EXIT + 2] = regs[A0]
                    reason = EXIT_HALT
                    break
                elif op == OP_TLBFLUSH:
                    tlb_flush(st)
                    f_size = 0
                    ld_size = sd_size = 0
        # ---- retire, or take the exception -----------------------------------------------
        if exc == 0:
            pc = npc
        else:
            if exit_trap:
                st[ST_EXIT + 2] = exc
                st[ST_EXIT + 3] = tval & M32
                reason = EXIT_GUEST_TRAP
                break
            vec = enter_trap(st, b, pc, exc, tval)
            if vec < 0:
                st[ST_EXIT + 2] = exc
                st[ST_EXIT + 3] = tval & M32
                reason = EXIT_FAULT
                break
            if exc < 16:
                st[STAT_CAUSES + exc] += 1
            st[STAT_TRAPS] += 1
            cyc += TRAP_CYCLES
            pc = vec
            status = st[b + CSR_STATUS]
            user = False
            f_size = 0
            ld_size = sd_size = 0
            exc = 0
            ev = cyc
    # ---- write back ---------------------------------------------------------------------
    st[ST_PC] = pc
    st[ST_EXIT] = reason
    st[ST_EXIT + 1] = pc
    delta = cyc - cyc0
    st[b + CSR_CYCLE] = cyc
    st[b + CSR_INSTRET] += n
    if guest:
        st[ST_CSR + CSR_CYCLE] += delta
        st[ST_CSR + CSR_INSTRET] += n
    st[STAT_INSTRUCTIONS] += n
    st[STAT_CYCLES] += delta
    st[STAT_IDLE_CYCLES] += idle
    st[STAT_EXITS + reason] += 1
    return reason
