"""VL32 architectural constants: registers, control/status registers, trap causes, paging bits.

Everything a guest program or the core needs to agree on, other than the instruction table, lives
here; ``docs/isa.md`` is generated from this module and ``vmlab.isa.table``.
"""

from __future__ import annotations

# --- general registers ----------------------------------------------------------------------
NUM_REGS = 16
# ABI names; r0 is hard-wired to zero. a0..a3 carry arguments and the return value (a0);
# t0..t3 are caller-saved temporaries; s0..s3 are callee-saved (s0 doubles as frame pointer).
REG_NAMES: tuple[str, ...] = (
    "zero",
    "ra",
    "sp",
    "gp",
    "a0",
    "a1",
    "a2",
    "a3",
    "t0",
    "t1",
    "t2",
    "t3",
    "s0",
    "s1",
    "s2",
    "s3",
)
REG_ALIASES: dict[str, int] = {name: i for i, name in enumerate(REG_NAMES)}
REG_ALIASES.update({f"r{i}": i for i in range(NUM_REGS)})
REG_ALIASES["fp"] = 12
A0, A1, A2, A3 = 4, 5, 6, 7
SP = 2
RA = 1

# --- control and status registers (number -> name) -----------------------------------------
CSR_STATUS = 0  # mode, interrupt enable, previous mode/ie, paging enable
CSR_TVEC = 1  # trap vector: address the CPU jumps to on a trap
CSR_EPC = 2  # exception PC: where the trap happened (or the next instruction, for interrupts)
CSR_CAUSE = 3  # cause code of the last trap
CSR_TVAL = 4  # trap value: faulting address or instruction word
CSR_SCRATCH = 5  # free for the kernel (e.g. a kernel stack pointer)
CSR_PTBR = 6  # page-table base: physical address of the level-1 page table (4 KiB aligned)
CSR_IE = 7  # interrupt enable mask, one bit per interrupt line
CSR_IP = 8  # interrupt pending mask (read only)
CSR_TIMECMP = 9  # timer compare, low 32 bits: timer interrupt pends while cycle >= timecmp
CSR_TIMECMPH = 10  # timer compare, high 32 bits
CSR_CYCLE = 11  # modelled cycles, low 32 bits (read only)
CSR_CYCLEH = 12  # modelled cycles, high 32 bits (read only)
CSR_INSTRET = 13  # instructions executed (including ones that trapped), low 32 bits
CSR_INSTRETH = 14  # instructions executed, high 32 bits (read only)
NUM_CSRS = 16  # size of a register bank (number 15 is reserved)

CSR_NAMES: dict[int, str] = {
    CSR_STATUS: "status",
    CSR_TVEC: "tvec",
    CSR_EPC: "epc",
    CSR_CAUSE: "cause",
    CSR_TVAL: "tval",
    CSR_SCRATCH: "scratch",
    CSR_PTBR: "ptbr",
    CSR_IE: "ie",
    CSR_IP: "ip",
    CSR_TIMECMP: "timecmp",
    CSR_TIMECMPH: "timecmph",
    CSR_CYCLE: "cycle",
    CSR_CYCLEH: "cycleh",
    CSR_INSTRET: "instret",
    CSR_INSTRETH: "instreth",
}
CSR_NUMBERS: dict[str, int] = {name: num for num, name in CSR_NAMES.items()}
CSR_READ_ONLY: frozenset[int] = frozenset(
    {CSR_IP, CSR_CYCLE, CSR_CYCLEH, CSR_INSTRET, CSR_INSTRETH}
)
CSR_DOC: dict[int, str] = {
    CSR_STATUS: "MODE (bit 0, 1 = kernel), IE (bit 1), PMODE (bit 2), PIE (bit 3), PG (bit 4)",
    CSR_TVEC: "trap vector address",
    CSR_EPC: "PC of the trapping instruction (of the next one, for an interrupt)",
    CSR_CAUSE: "cause code of the last trap (interrupts have bit 31 set)",
    CSR_TVAL: "faulting address, or the instruction word for illegal/privileged instructions",
    CSR_SCRATCH: "scratch word for the kernel",
    CSR_PTBR: "physical address of the level-1 page table (4 KiB aligned)",
    CSR_IE: "interrupt enable: bit 0 timer, bit 1 console, bit 2 disk",
    CSR_IP: "interrupt pending, same bits as ie (read only)",
    CSR_TIMECMP: "timer compare, low word; writing it clears a pending timer interrupt",
    CSR_TIMECMPH: "timer compare, high word",
    CSR_CYCLE: "modelled cycle counter, low word (read only)",
    CSR_CYCLEH: "modelled cycle counter, high word (read only)",
    CSR_INSTRET: "instructions executed (a trapping one counts), low word (read only)",
    CSR_INSTRETH: "instructions executed, high word (read only)",
}

# status bits
ST_MODE = 1 << 0  # 1 = kernel mode, 0 = user mode
ST_IE = 1 << 1  # global interrupt enable
ST_PMODE = 1 << 2  # mode before the last trap
ST_PIE = 1 << 3  # IE before the last trap
ST_PG = 1 << 4  # paging enabled
ST_WRITABLE = ST_MODE | ST_IE | ST_PMODE | ST_PIE | ST_PG
STATUS_BITS = (
    ("MODE", ST_MODE),
    ("IE", ST_IE),
    ("PMODE", ST_PMODE),
    ("PIE", ST_PIE),
    ("PG", ST_PG),
)


def status_bits(value: int) -> str:
    """The names of the bits set in a ``status`` value, e.g. ``"MODE PG"`` (``"-"`` for none)."""
    return " ".join(name for name, bit in STATUS_BITS if value & bit) or "-"


# interrupt lines (bits of ie/ip; cause = INTERRUPT | line)
IRQ_TIMER = 0
IRQ_CONSOLE = 1
IRQ_DISK = 2
NUM_IRQS = 3

# --- trap causes ----------------------------------------------------------------------------
CAUSE_ILLEGAL = 1  # undefined opcode, non-zero reserved bits, unknown CSR, write to read-only CSR
CAUSE_PRIVILEGED = 2  # privileged instruction in user mode
CAUSE_MISALIGNED_FETCH = 3
CAUSE_MISALIGNED_LOAD = 4
CAUSE_MISALIGNED_STORE = 5
CAUSE_FETCH_PAGE_FAULT = 6
CAUSE_LOAD_PAGE_FAULT = 7
CAUSE_STORE_PAGE_FAULT = 8
CAUSE_SYSCALL = 9
CAUSE_BREAKPOINT = 10
CAUSE_ACCESS_FAULT = 11  # physical address with no RAM and no device behind it
INTERRUPT = 0x80000000
CAUSE_TIMER_INTERRUPT = INTERRUPT | IRQ_TIMER
CAUSE_CONSOLE_INTERRUPT = INTERRUPT | IRQ_CONSOLE
CAUSE_DISK_INTERRUPT = INTERRUPT | IRQ_DISK

CAUSE_NAMES: dict[int, str] = {
    CAUSE_ILLEGAL: "illegal instruction",
    CAUSE_PRIVILEGED: "privileged instruction",
    CAUSE_MISALIGNED_FETCH: "misaligned fetch",
    CAUSE_MISALIGNED_LOAD: "misaligned load",
    CAUSE_MISALIGNED_STORE: "misaligned store",
    CAUSE_FETCH_PAGE_FAULT: "fetch page fault",
    CAUSE_LOAD_PAGE_FAULT: "load page fault",
    CAUSE_STORE_PAGE_FAULT: "store page fault",
    CAUSE_SYSCALL: "syscall",
    CAUSE_BREAKPOINT: "breakpoint",
    CAUSE_ACCESS_FAULT: "access fault",
    CAUSE_TIMER_INTERRUPT: "timer interrupt",
    CAUSE_CONSOLE_INTERRUPT: "console interrupt",
    CAUSE_DISK_INTERRUPT: "disk interrupt",
}

TRAP_CYCLES = 10  # modelled cost of taking a trap or interrupt (on top of the instruction)
# A TLB miss costs WALK_REF_CYCLES per memory reference the page walk makes (the levels it actually
# touches), as on real hardware, where a walk is a chain of dependent memory reads:
#   - bare metal, paging on: one reference per page-table level read: 2 for a 4 KiB page (level 1,
#     then level 2), 1 for a 4 MiB superpage;
#   - guest mode (hw-assist): every guest-physical address, including each guest page-table entry's
#     own address, is looked up in the one-level second-stage (p2m) map, one reference each. With g
#     guest levels that is the "2D walk" of nested paging, (g + 1) * (1 + 1) - 1 = 2g + 1
#     references: 1 with guest paging off, 3 for a guest superpage, 5 for a guest 4 KiB page.
# (Real x86 nested paging, 4 guest and 4 host levels, makes up to (4 + 1) * (4 + 1) - 1 = 24.)
WALK_REF_CYCLES = 5

# --- paging ---------------------------------------------------------------------------------
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTE_V = 1 << 0  # valid
PTE_R = 1 << 1  # readable
PTE_W = 1 << 2  # writable
PTE_X = 1 << 3  # executable
PTE_U = 1 << 4  # user-accessible (kernel mode may access every valid page)
PTE_A = 1 << 5  # accessed: set by the hardware on any access
PTE_D = 1 << 6  # dirty: set by the hardware on a write
# A level-1 entry with V set and none of R/W/X points to a level-2 table at (pte & ~0xFFF).
# A level-1 entry with any of R/W/X set is a 4 MiB superpage mapping (pte & 0xFFC00000).
# The TLB is set-associative: a virtual page number's set is vpn % TLB_SETS, and the page may sit in
# any of that set's TLB_WAYS ways. Replacement is first-in first-out and deterministic: each set
# keeps its ways in fill order (way 0 newest): a fill (after a walk) evicts the last way and puts
# the new entry in way 0, and a hit (fetch, load or store) changes nothing. So a page that is used
# all the time is still evicted once TLB_WAYS other pages of its set have been filled since its
# own fill; its next access walks again. (A hit that changes nothing is what lets the core serve a
# run of hits on neighbouring pages without asking the TLB for each one.)
TLB_SETS = 64
TLB_WAYS = 4
TLB_ENTRIES = TLB_SETS * TLB_WAYS
