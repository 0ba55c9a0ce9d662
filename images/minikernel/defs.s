# minikernel/defs.s -- constants shared by the kernel's files (no code, no data).
#
# The machine's own constants (status bits, causes, PTE bits, device addresses) come from
# lib/vl32.s; the ones here are the kernel's choices.

.equ KERNEL_BASE,   0x00008000      # where the kernel is assembled (see minikernel.s: the TLB)

# --- the user address space (the same in every process) -----------------------------------------
.equ UBASE,         0x00400000      # user image (code, then data) starts here: level-1 index 1
.equ UEND,          0x00800000      # end of the user region: user pointers must lie below
.equ USTACK_TOP,    0x00800000      # initial user sp; the stack page is the one just below
.equ KSTACK_SIZE,   4096            # the one kernel stack (only the idle window is ever interrupted)

# --- system call numbers (a0 at the `syscall`) ---------------------------------------------------
.equ SYS_EXIT,      0
.equ SYS_WRITE,     1
.equ SYS_YIELD,     2
.equ SYS_SLEEP,     3
.equ SYS_GETPID,    4
.equ SYS_TICKS,     5
.equ NSYSCALLS,     6

# --- error results (negative) --------------------------------------------------------------------
.equ EFAULT,        -1              # a pointer argument is not readable user memory
.equ ENOSYS,        -2              # no such system call
.equ EINVAL,        -3              # a bad argument (e.g. write longer than WRITE_MAX)
.equ WRITE_MAX,     4096            # longest write() the kernel accepts

# --- interrupts and the kernel's status ------------------------------------------------------------
.equ INTR_BIT,      0x80000000      # set in `cause` for an interrupt
.equ IRQ_TIMER_BIT, 0x1             # the timer's bit in the ie/ip CSRs (line 0)
# The kernel's `status` whenever it runs: kernel mode, paging on, interrupts OFF, and PMODE = user,
# PIE = 1 ready for the next `eret` into a process. The only moment it differs is the idle window
# (hal_wait), where IE is briefly set so that the pending timer interrupt is taken in kernel mode.
.equ KSTATUS,       ST_MODE | ST_PG | ST_PIE

# --- the process control block (PCB): one per process, in the process table (data.s) ---------------
# The trap entry (hal.s) saves all 15 user registers here, so a process can be resumed later
# exactly where it stopped, on any path out of the kernel.
.equ PCB_REGS,      0               # word n = saved register rn (word 0, r0, is unused)
.equ PCB_RA,        4
.equ PCB_SP,        8
.equ PCB_GP,        12
.equ PCB_A0,        16
.equ PCB_A1,        20
.equ PCB_A2,        24
.equ PCB_A3,        28
.equ PCB_T0,        32
.equ PCB_T1,        36
.equ PCB_T2,        40
.equ PCB_T3,        44
.equ PCB_S0,        48
.equ PCB_S1,        52
.equ PCB_S2,        56
.equ PCB_S3,        60
.equ PCB_PC,        64              # user pc to resume at (epc of the trap)
.equ PCB_STATE,     68              # P_* below
.equ PCB_PID,       72
.equ PCB_PTBR,      76              # physical address of this process's level-1 page table
.equ PCB_NEXT,      80              # link in the ready queue or the sleep queue
.equ PCB_WAKE,      84              # sleeping: the tick at which to wake up
.equ PCB_PROG,      88              # its entry in the program table (name, entry, expectation)
.equ PCB_EXIT,      92              # exit code (P_EXITED) or the cause that killed it (P_KILLED)
.equ PCB_TICKS,     96              # timer interrupts that arrived while it was running
.equ PCB_SYSCALLS,  100             # system calls it made
.equ PCB_INSNS,     104             # instructions it retired (a few kernel ones per trap included)
.equ PCB_SIZE,      128
.equ NPROC,         8               # process table slots

# process states
.equ P_FREE,        0
.equ P_READY,       1               # in the ready queue
.equ P_RUNNING,     2               # the current process
.equ P_SLEEPING,    3               # in the sleep queue
.equ P_EXITED,      4               # called exit()
.equ P_KILLED,      5               # killed by the kernel after an exception

# --- the program table (boot.s): 4 words per program -------------------------------------------
.equ PROG_NAME,     0               # kernel address of its NUL-terminated name
.equ PROG_ENTRY,    4               # its first instruction (a label in user.s)
.equ PROG_END,      8               # expected end: END_EXIT or END_KILLED
.equ PROG_CODE,     12              # expected exit code (END_EXIT) or cause (END_KILLED)
.equ PROG_SIZE,     16
.equ END_EXIT,      0
.equ END_KILLED,    1

# kernel power-off exit codes other than "number of unexpected outcomes"
.equ PANIC_EXIT,    100             # kernel panic
.equ DOUBLE_PANIC,  101             # a fault while panicking
