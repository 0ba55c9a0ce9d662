# minikernel/report.s -- the end of the run: the summary table, the outcome check and power-off.
#
#   [kernel] all processes have ended after 5406 ticks
#   [kernel]  pid name      ticks syscalls instructions  result
#   [kernel]    1 primes     3588       11      3146107  exit 0
#   [kernel]    2 collatz    1151       27      3500712  exit 0
#   [kernel]    3 faulty        4       12         5875  killed (store page fault)
#   ...
#   [kernel] context switches: 7194
#   [kernel] system calls: 6087
#   [kernel] timer interrupts: 5406 (4751 in user mode, 655 while idle)
#   [kernel] all 7 processes ended as expected
#   [kernel] power off
#
# Columns: ticks = timer interrupts that arrived while the process was running; instructions =
# what it retired (the ~50 kernel instructions between resuming it and saving it again on each
# trap are included).
#
# The power-off exit code is the number of processes that did not end the way the program table
# (boot.s) says they should: 0 means the whole run went as planned.

        .text

# shutdown(): print the summary and power off. Never returns.
shutdown:
        la      t0, kernel_l1           # leave the last process's address space
        lw      a0, 0(t0)
        call    hal_set_ptbr
        la      a0, s_ended             # "[kernel] all processes have ended after "
        call    kputs
        la      t0, ticks
        lw      a0, 0(t0)
        call    kputdec
        la      a0, s_ticks             # " ticks"
        call    kputs
        call    kputnl
        la      a0, s_header
        call    kputs
        call    kputnl

        li      s2, 0                   # s2 = processes that did not end as expected
        li      s3, 0                   # s3 = processes
        la      s0, proc_table          # s0 = pcb
shutdown.proc:
        la      t0, proc_table + NPROC * PCB_SIZE
        bgeu    s0, t0, shutdown.totals
        lw      t0, PCB_STATE(s0)
        beqz    t0, shutdown.next       # a free slot
        addi    s3, s3, 1
        lw      s1, PCB_PROG(s0)        # s1 = its program-table entry
        la      a0, s_kernel            # "[kernel] "
        call    kputs
        lw      a0, PCB_PID(s0)
        li      a1, 4
        call    kputdec_w
        li      a0, ' '
        call    kputc
        lw      a0, PROG_NAME(s1)
        li      a1, 8
        call    kputs_w
        lw      a0, PCB_TICKS(s0)
        li      a1, 7
        call    kputdec_w
        lw      a0, PCB_SYSCALLS(s0)
        li      a1, 9
        call    kputdec_w
        lw      a0, PCB_INSNS(s0)
        li      a1, 13
        call    kputdec_w
        li      a0, ' '
        call    kputc
        li      a0, ' '
        call    kputc
        # the result, and whether it is the expected one
        lw      t0, PCB_STATE(s0)
        li      t1, P_EXITED
        bne     t0, t1, shutdown.killed
        la      a0, s_exit              # "exit "
        call    kputs
        lw      a0, PCB_EXIT(s0)
        call    kputint
        lw      t0, PROG_END(s1)
        li      t1, END_EXIT
        bne     t0, t1, shutdown.unexpected
        j       shutdown.code
shutdown.killed:
        li      t1, P_KILLED
        bne     t0, t1, shutdown.unfinished
        la      a0, s_killed_by         # "killed ("
        call    kputs
        lw      a0, PCB_EXIT(s0)
        call    cause_name
        call    kputs
        li      a0, ')'
        call    kputc
        lw      t0, PROG_END(s1)
        li      t1, END_KILLED
        bne     t0, t1, shutdown.unexpected
shutdown.code:
        lw      t0, PCB_EXIT(s0)        # exit code, or the cause it was killed by
        lw      t1, PROG_CODE(s1)
        beq     t0, t1, shutdown.line_done
        j       shutdown.unexpected
shutdown.unfinished:
        la      a0, s_unfinished        # cannot happen: we only get here when all have ended
        call    kputs
shutdown.unexpected:
        addi    s2, s2, 1
        la      a0, s_unexpected        # "  <- UNEXPECTED"
        call    kputs
shutdown.line_done:
        call    kputnl
shutdown.next:
        addi    s0, s0, PCB_SIZE
        j       shutdown.proc

shutdown.totals:
        la      a0, s_switches          # "[kernel] context switches: "
        call    kputs
        la      t0, nr_switches
        lw      a0, 0(t0)
        call    kputdec
        call    kputnl
        la      a0, s_syscalls          # "[kernel] system calls: "
        call    kputs
        la      t0, nr_syscalls
        lw      a0, 0(t0)
        call    kputdec
        call    kputnl
        la      a0, s_ticks_total       # "[kernel] timer interrupts: "
        call    kputs
        la      t0, ticks
        lw      a0, 0(t0)
        call    kputdec
        la      a0, s_ticks_user        # " ("
        call    kputs
        la      t0, ticks
        lw      a0, 0(t0)
        la      t0, idle_ticks
        lw      t0, 0(t0)
        sub     a0, a0, t0
        call    kputdec
        la      a0, s_ticks_idle        # " in user mode, "
        call    kputs
        la      t0, idle_ticks
        lw      a0, 0(t0)
        call    kputdec
        la      a0, s_while_idle        # " while idle)"
        call    kputs
        call    kputnl

        bnez    s2, shutdown.bad
        la      a0, s_all               # "[kernel] all "
        call    kputs
        mv      a0, s3
        call    kputdec
        la      a0, s_as_expected       # " processes ended as expected"
        call    kputs
        call    kputnl
        j       shutdown.off
shutdown.bad:
        la      a0, s_kernel
        call    kputs
        mv      a0, s2
        call    kputdec
        la      a0, s_not_expected      # " processes did not end as expected"
        call    kputs
        call    kputnl
shutdown.off:
        la      a0, s_poweroff          # "[kernel] power off"
        call    kputs
        call    kputnl
        mv      a0, s2                  # exit code: 0 when everything went as planned
        j       hal_poweroff

s_ended:        .asciz "[kernel] all processes have ended after "
s_ticks:        .asciz " ticks"
s_header:       .asciz "[kernel]  pid name      ticks syscalls instructions  result"
s_kernel:       .asciz "[kernel] "
s_exit:         .asciz "exit "
s_killed_by:    .asciz "killed ("
s_unfinished:   .asciz "still running"
s_unexpected:   .asciz "  <- UNEXPECTED"
s_switches:     .asciz "[kernel] context switches: "
s_syscalls:     .asciz "[kernel] system calls: "
s_ticks_total:  .asciz "[kernel] timer interrupts: "
s_ticks_user:   .asciz " ("
s_ticks_idle:   .asciz " in user mode, "
s_while_idle:   .asciz " while idle)"
s_all:          .asciz "[kernel] all "
s_as_expected:  .asciz " processes ended as expected"
s_not_expected: .asciz " processes did not end as expected"
s_poweroff:     .asciz "[kernel] power off"
        .align  4
