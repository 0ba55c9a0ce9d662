"""Layout of the core's state: offsets into the int64 state array, exit reasons, virtualization bits.

A processor's whole state is a handful of numpy arrays (see ``vmlab.core.state``). Scalars live in
one int64 array ``st`` at the offsets below so that a call into the jitted core passes few arrays.
"""

from __future__ import annotations

from ..isa.arch import NUM_CSRS, TLB_ENTRIES, TLB_SETS

# --- int64 state array ``st`` ---------------------------------------------------------------
ST_CSR = 0  # host (real) control-register bank, NUM_CSRS words
ST_GCSR = ST_CSR + NUM_CSRS  # shadow (guest) bank used in guest mode
ST_PC = 32
ST_VMCTL = 33  # virtualization controls, VM_* bits below
ST_STRICT = 34  # 1: every CSR access traps in user mode; 0: reading status does not
ST_RAMSIZE = 35  # bytes of (guest-)physical RAM
ST_SKIP_BP = 36  # physical address whose host breakpoint decode ignores (-1: none); for step-over
ST_EXIT = 40  # exit record: reason, pc, a, b, c, d (see EXIT_*)
EXIT_WORDS = 6
ST_NBP = 48  # number of host breakpoints
ST_BP = 49  # host breakpoint physical addresses
MAX_BREAKPOINTS = 15
ST_DEV = 64  # device registers
DEV_CON_CTRL = ST_DEV + 0
DEV_CON_OUT_LEN = ST_DEV + 1  # bytes waiting in the console output buffer
DEV_CON_IN_HEAD = ST_DEV + 2  # next input byte to read (index into the input buffer)
DEV_CON_IN_TAIL = ST_DEV + 3  # one past the last input byte
DEV_DSK_SECTOR = ST_DEV + 8
DEV_DSK_ADDR = ST_DEV + 9
DEV_DSK_STATUS = ST_DEV + 10
DEV_DSK_CTRL = ST_DEV + 11
DEV_PWR_EXIT_CODE = ST_DEV + 16
DEV_WORDS = 32
ST_STATS = 96  # counters for the host, never visible to the guest
STAT_INSTRUCTIONS = ST_STATS + 0
STAT_CYCLES = ST_STATS + 1
STAT_IDLE_CYCLES = ST_STATS + 2
STAT_TLB_MISSES = ST_STATS + 3
STAT_TRAPS = ST_STATS + 4  # exceptions taken (delivered to a trap vector)
STAT_INTERRUPTS = ST_STATS + 5
STAT_MMIO = ST_STATS + 6  # device register accesses handled in the core
STAT_WALK_REFS = ST_STATS + 7  # memory references made by page walks (WALK_REF_CYCLES each)
STAT_EXITS = ST_STATS + 16  # NUM_EXITS counters, by exit reason
STAT_CAUSES = ST_STATS + 32  # 16 counters by exception cause (cause < 16)
STAT_IRQS = ST_STATS + 48  # 16 counters by interrupt line
STATS_WORDS = 64
ST_TLB_TAG = (
    256  # TLB_ENTRIES virtual page numbers, -1 = invalid; way w of set s at w * TLB_SETS + s
)
ST_TLB_DATA = ST_TLB_TAG + TLB_ENTRIES  # physical page base | TLB_* permission bits, same order
ST_SIZE = ST_TLB_DATA + TLB_ENTRIES

TLB_SET_MASK = (
    TLB_SETS - 1
)  # set of a virtual page number: vpn & TLB_SET_MASK (way 0 is at that index)

# TLB data permission bits (page base is 4 KiB aligned, so the low 12 bits are free)
TLB_R = 1 << 1
TLB_W = 1 << 2
TLB_X = 1 << 3
TLB_U = 1 << 4
TLB_D = 1 << 6  # the PTE is already dirty: a write needs no walk
TLB_IO = 1 << 11  # the page is a device page (base is its guest-physical address)

# --- second-stage (guest-physical -> host-physical) map entries -----------------------------
P2M_V = 1  # mapped
P2M_W = 2  # writable; a write to a mapped page without it exits with EXIT_NPF
P2M_SHIFT = 12  # entry = host_frame << 12 | flags

# --- virtualization controls (st[ST_VMCTL]) -------------------------------------------------
VM_GUEST = 1  # guest mode: shadow CSR bank, addresses go through the second-stage map
VM_DEPRIV = 2  # privileged guest instructions exit (EXIT_PRIV) instead of running on the bank
VM_EXIT_TRAP = 4  # guest traps and interrupts exit (EXIT_GUEST_TRAP) instead of being delivered
VM_EXIT_MMIO = 8  # guest device accesses exit (EXIT_MMIO) instead of using the core's devices
VM_EXIT_IDLE = 16  # a guest wfi that would wait exits (EXIT_IDLE) instead of skipping time
VM_TRANSLATE = 32  # a decode-cache miss exits (EXIT_TRANSLATE): the hypervisor's binary
#                    translator fills the cache (its translation cache) instead of the decoder

# --- exit reasons (return value of core.run; st[ST_EXIT]) -----------------------------------
EXIT_BUDGET = 0  # instruction or cycle budget used up
EXIT_HALT = 1  # halt executed; a = exit code (a0)
EXIT_POWEROFF = 2  # power controller: off; a = exit code
EXIT_REBOOT = 3  # power controller: reboot
EXIT_IDLE = 4  # wfi with nothing that could wake the CPU (or any wfi under VM_EXIT_IDLE); pc stays
#               on the wfi, and the next run completes it at once if an enabled line is pending
EXIT_BREAKPOINT = 5  # a host (debugger) breakpoint was reached; the instruction did not run
EXIT_FAULT = 6  # a trap with no trap vector (tvec == 0); a = cause, b = tval
EXIT_CONSOLE = 7  # console output buffer is full: drain it and run again
EXIT_PRIV = 8  # guest privileged instruction under VM_DEPRIV; a = instruction word
EXIT_GUEST_TRAP = 9  # guest trap or interrupt under VM_EXIT_TRAP; a = cause, b = tval
EXIT_HCALL = 10  # hcall in guest mode; a = a0 (call number)
EXIT_MMIO = 11  # guest device access under VM_EXIT_MMIO; a = address, b = is_write,
#                 c = value written (writes) or destination register (reads), d = instruction word
EXIT_NPF = (
    12  # second-stage fault; a = guest-physical address, b = access (0/1/2: fetch/load/store)
)
EXIT_TRANSLATE = 13  # decode-cache miss under VM_TRANSLATE; a = host-physical address of the word
EXIT_BT = 14  # a translated sensitive instruction (OP_BTCALL) was reached; a = its original word
NUM_EXITS = 16

EXIT_NAMES: dict[int, str] = {
    EXIT_BUDGET: "budget",
    EXIT_HALT: "halt",
    EXIT_POWEROFF: "poweroff",
    EXIT_REBOOT: "reboot",
    EXIT_IDLE: "idle",
    EXIT_BREAKPOINT: "breakpoint",
    EXIT_FAULT: "fault",
    EXIT_CONSOLE: "console",
    EXIT_PRIV: "privileged",
    EXIT_GUEST_TRAP: "guest-trap",
    EXIT_HCALL: "hcall",
    EXIT_MMIO: "mmio",
    EXIT_NPF: "npf",
    EXIT_TRANSLATE: "translate",
    EXIT_BT: "bt-call",
}

ACCESS_FETCH = 0
ACCESS_LOAD = 1
ACCESS_STORE = 2

CONSOLE_OUT_SIZE = 1 << 16  # bytes buffered before EXIT_CONSOLE
CONSOLE_IN_SIZE = 1 << 16
