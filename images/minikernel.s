# minikernel.s -- a small preemptive, paging, multi-process guest operating system for the VL32.
#
# This is the "kernel-heavy" workload of vmlab: lots of traps, system calls, timer interrupts,
# page-table switches and privileged instructions. It is also meant to be read: every part of a
# real kernel that a virtualization course talks about is here, small enough to read in an
# afternoon (start with this file, then boot.s, trap.s, sched.s, hal.s).
#
# What happens, in order (boot.s):
#
#   1. Boot in kernel mode with paging off. Point tvec at the trap entry (hal.s).
#   2. Build the kernel's page tables and turn paging on (vm.s): RAM is mapped 1:1 as one 4 MiB
#      superpage and the four device pages 1:1 -- both kernel-only (no U bit).
#   3. Create one process per entry of the program table (boot.s): each gets its OWN level-1 table,
#      a private copy of the user image (user.s) mapped user-accessible at UBASE = 0x00400000, and
#      a private stack page just below USTACK_TOP = 0x00800000. The kernel mappings are copied into
#      every address space, so the kernel keeps running whatever ptbr points at.
#   4. Arm a periodic timer (one tick every QUANTUM cycles), enable the timer interrupt and run the
#      first process (sched.s). From then on the kernel only runs because of a trap (trap.s):
#        - a system call (`syscall`, number in a0, arguments in a1..a3, result in a0),
#        - a timer interrupt: a tick; sleepers whose time has come wake up, and the running
#          process goes to the back of the ready queue (preemptive round robin),
#        - an exception in user mode: the process is killed with a message, the others go on,
#        - an exception in kernel mode: a kernel bug -> panic.
#   5. When no process is ready but some sleep, the kernel idles in `wfi` until the next tick, and
#      takes that tick's interrupt IN KERNEL MODE (a short window with interrupts on, hal_wait).
#      The trap entry tells it apart from a trap from a process by reading status.PMODE -- the
#      check that goes wrong on a machine that is not classically virtualizable (Popek and
#      Goldberg: see hal.s and tests/test_popek_goldberg.py).
#   6. When the last process has ended, print a summary, compare every outcome with the program
#      table's expectation and power the machine off (exit code 0 = everything went as expected).
#
# Physical memory (identity-mapped for the kernel; 256 KiB of RAM are enough at the default sizes):
#
#   0x00008000  kernel code, kernel read-only data, then the user image (page aligned)
#   next page   kernel data (.data): variables, process table, kernel stack
#   next page   free frames, handed out by frame_alloc: page tables, user pages (never freed)
#
# Every process sees the same user virtual layout (user.s):
#
#   0x00000000 - 0x003FFFFF  the kernel (RAM superpage, no U bit: any user access faults)
#   0x00400000 -             user code and read-only data (R X U), then user data (R W U)
#   0x007FF000 - 0x007FFFFF  user stack (R W U), sp starts at 0x00800000
#   0xF0000000 - 0xF0003FFF  devices (no U bit)
#
# System calls (trap.s; errors are small negative numbers):
#
#   a0 = 0  exit(code)          never returns
#   a0 = 1  write(buf, len)     print len bytes from the caller's memory; -> len, or -1 (EFAULT)
#                               if any byte is not readable user memory, -3 (EINVAL) if len > 4096
#   a0 = 2  yield()             go to the back of the ready queue; -> 0
#   a0 = 3  sleep(ticks)        block for at least `ticks` timer ticks; -> 0
#   a0 = 4  getpid()            -> the caller's process id (1, 2, ...)
#   a0 = 5  ticks()             -> timer ticks since boot
#   other                       -> -2 (ENOSYS)
#
# Privileged operations: every csr access, eret, wfi, tlbflush, halt and every device access is
# in hal.s ("hardware abstraction layer") and nowhere else. The paravirtualized build (PV=1)
# swaps that one file for hal_pv.s, which asks the hypervisor instead (hypercalls): it runs only
# under vmlab's hypervisor in mode="paravirtual" (on bare metal its first `hcall` is an illegal
# instruction and the machine stops with a fault), with far fewer exits than this kernel under
# trap-and-emulate (tests/test_paravirtual.py).
#
# Output is deterministic: time is modelled cycles, so the same build prints the same schedule
# every run (tests/test_minikernel.py compares it with images/minikernel.expected).

        .include "lib/vl32.s"

# --- build options (assemble with defines={...} or `vmlab asm -D NAME=VALUE`) -------------------
        .default PV, 0                  # 1: paravirtualized HAL (minikernel/hal_pv.s: hypercalls)
        .default QUANTUM, 50000         # cycles per timer tick = the scheduling time slice
        .default MEM_TOP, 0x00400000    # frames are allocated below this address (RAM superpage)

# --- workload size (the default run is about 10 million instructions) -------------------------
        .default PRIMES_N, 40000        # primes: count the primes below PRIMES_N (trial division)
        .default PRIMES_EVERY, 500      # primes: print every PRIMES_EVERY-th prime
        .default COLLATZ_N, 6000        # collatz: longest chain for start values 1..COLLATZ_N
        .default COLLATZ_CHUNK, 500     # collatz: print and yield every COLLATZ_CHUNK start values
        .default TICKER_N, 6            # ticker: how many times to sleep
        .default TICKER_SLEEP, 72       # ticker: ticks per sleep (it outlives the others: idle)
        .default PING_N, 3000           # pinger: getpid + yield round trips
        .default PING_EVERY, 1000       # pinger: print every PING_EVERY round trips

# --- checks: values outside these ranges make the kernel or a process misbehave --------------
.if QUANTUM < 1000 || QUANTUM > 0xFFFFFFFF
        .error "QUANTUM must be 1000..0xFFFFFFFF cycles: shorter ticks leave no time for work"
.endif
.if PRIMES_N < 0 || PRIMES_N > 0x7FFFFFFF || COLLATZ_N < 0 || COLLATZ_N > 0x7FFFFFFF
        .error "PRIMES_N and COLLATZ_N must be 0..0x7FFFFFFF"
.endif
.if TICKER_N < 0 || TICKER_N > 0x7FFFFFFF || TICKER_SLEEP < 0 || TICKER_SLEEP > 0x7FFFFFFF
        .error "TICKER_N and TICKER_SLEEP must be 0..0x7FFFFFFF"
.endif
.if PING_N < 0 || PING_N > 0x7FFFFFFF
        .error "PING_N must be 0..0x7FFFFFFF"
.endif
.if PRIMES_EVERY < 1 || COLLATZ_CHUNK < 1 || PING_EVERY < 1
        .error "PRIMES_EVERY, COLLATZ_CHUNK and PING_EVERY must be at least 1"
.endif

        .include "minikernel/defs.s"    # kernel constants: syscall numbers, PCB layout, ...

# The kernel is assembled at KERNEL_BASE = 0x8000 rather than the default 0x1000. Virtual page v
# can only be cached in TLB set v mod 64 (docs/machine.md "Paging"). The user pages are at
# 0x00400000 and up (sets 0, 1, ...) and 0x007FF000 (set 63); a kernel at 0x1000 would share sets
# 1, 2, ... with them. With a direct-mapped TLB (one way per set, as vmlab's first one was), every
# byte that write() copies from a user buffer would evict the kernel's own code from the TLB and
# back (3 misses per byte); the 4 ways now hold both, but at 0x8000 they do not even share a set.
        .text
.if PV
        .include "minikernel/hal_pv.s"  # paravirtual HAL: hypercalls instead of privileged code
                                        # (it puts a few words just below KERNEL_BASE first)
.else
        .org    KERNEL_BASE
        .include "minikernel/hal.s"     # native HAL: the real privileged instructions
.endif
        .include "minikernel/boot.s"    # kmain: from reset to the first process
        .include "minikernel/vm.s"      # frame allocator, page tables, user-pointer checks
        .include "minikernel/sched.s"   # ready queue, sleep queue, ticks, dispatch, idle
        .include "minikernel/trap.s"    # trap dispatch, system calls, killing, panic
        .include "minikernel/report.s"  # the final summary and power-off
        .include "minikernel/kprint.s"  # console output for the kernel
        .include "minikernel/user.s"    # the user programs (copied into every process)
        .include "minikernel/data.s"    # kernel variables, process table, kernel stack
