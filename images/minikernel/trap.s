# minikernel/trap.s -- what the kernel does with a trap: system calls, timer ticks, killing a
# misbehaving process, and panicking when the kernel itself faults.
#
# hal_trap_entry (hal.s) has already saved the user registers into the PCB, checked that the trap
# came from user mode, and switched to the kernel stack. Every path below ends either in run
# (back to user mode, maybe another process) or in schedule.
#
# The two other ways in, from kernel mode, are at the end: trap_from_kernel_irq (the idle tick,
# an ordinary call that returns to the HAL) and kernel_fault (a kernel bug: panic).

        .text

# trap_from_user(a0 = pcb, a1 = cause, a2 = tval). Never returns.
trap_from_user:
        mv      s0, a0                  # s0 = pcb of the process that trapped
        mv      s1, a1                  # s1 = cause
        mv      s2, a2                  # s2 = tval
        # its instruction count: instructions retired since run() returned to it
        call    hal_read_instret
        la      t0, run_instret
        lw      t0, 0(t0)
        sub     t0, a0, t0
        lw      t1, PCB_INSNS(s0)
        add     t1, t1, t0
        sw      t1, PCB_INSNS(s0)

        li      t0, CAUSE_SYSCALL
        beq     s1, t0, do_syscall
        bltz    s1, trap.interrupt      # bit 31 set: an interrupt
        mv      a0, s0                  # any other exception: the process did something wrong
        mv      a1, s1
        mv      a2, s2
        j       kill

trap.interrupt:
        li      t0, INTR_BIT | 0        # cause of the timer interrupt (line 0)
        bne     s1, t0, trap.resume     # no other interrupt is enabled; ignore it
        lw      t0, PCB_TICKS(s0)       # the tick landed while this process ran
        addi    t0, t0, 1
        sw      t0, PCB_TICKS(s0)
        call    tick
        la      t0, ready_head          # preempt, unless nobody else wants the CPU
        lw      t0, 0(t0)
        beqz    t0, trap.resume
        mv      a0, s0
        call    make_ready              # back of the queue ...
        j       schedule                # ... and run the first one
trap.resume:
        mv      a0, s0
        j       run

# --------------------------------------------------------------------------------------------------
# do_syscall (s0 = pcb): a0 of the process is the system call number, a1..a3 its arguments.
# The handlers get (a0 = pcb, a1, a2, a3 = the arguments), with s0 = pcb too, and end with
# sys_return (result in a1) or in schedule.
do_syscall:
        la      t0, nr_syscalls
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        lw      t1, PCB_SYSCALLS(s0)
        addi    t1, t1, 1
        sw      t1, PCB_SYSCALLS(s0)
        lw      t0, PCB_PC(s0)          # epc points AT the syscall instruction:
        addi    t0, t0, 4               # resume after it
        sw      t0, PCB_PC(s0)

        lw      t0, PCB_A0(s0)          # the number
        li      t1, NSYSCALLS
        bgeu    t0, t1, sys_unknown     # (unsigned: a negative number is huge, too)
        slli    t0, t0, 2
        la      t1, syscall_table
        add     t1, t1, t0
        lw      t1, 0(t1)               # the handler
        mv      a0, s0
        lw      a1, PCB_A1(s0)
        lw      a2, PCB_A2(s0)
        lw      a3, PCB_A3(s0)
        jr      t1

syscall_table:                          # indexed by the system call number (defs.s)
        .word   sys_exit                # 0
        .word   sys_write               # 1
        .word   sys_yield               # 2
        .word   sys_sleep               # 3
        .word   sys_getpid              # 4
        .word   sys_ticks               # 5

# sys_return(a0 = pcb, a1 = result): the result goes into the caller's a0; resume the caller.
sys_return:
        sw      a1, PCB_A0(a0)
        j       run

sys_unknown:
        mv      a0, s0
        li      a1, ENOSYS
        j       sys_return

# exit(code): the process is done.
sys_exit:
        sw      a1, PCB_EXIT(s0)
        li      t0, P_EXITED
        sw      t0, PCB_STATE(s0)
        la      a0, s_pid               # "[kernel] pid "
        call    kputs
        lw      a0, PCB_PID(s0)
        call    kputdec
        la      a0, s_exited            # " exited with code "
        call    kputs
        lw      a0, PCB_EXIT(s0)
        call    kputint
        call    kputnl
        j       process_gone

# write(buf, len) -> len, or EFAULT / EINVAL.
# The buffer is in the caller's address space, which is the one loaded now, so once it is known
# to be readable user memory the kernel can read it at the same addresses.
sys_write:
        li      t0, WRITE_MAX
        bgtu    a2, t0, sys_write.einval
        mv      s1, a1                  # s1 = buf
        mv      s2, a2                  # s2 = len
        lw      a0, PCB_PTBR(s0)
        call    user_readable           # (l1, buf, len)
        beqz    a0, sys_write.efault
        add     s3, s1, s2              # s3 = end
sys_write.byte:
        bgeu    s1, s3, sys_write.done
        lbu     a0, 0(s1)
        call    kputc
        addi    s1, s1, 1
        j       sys_write.byte
sys_write.done:
        mv      a0, s0
        mv      a1, s2
        j       sys_return
sys_write.efault:
        mv      a0, s0
        li      a1, EFAULT
        j       sys_return
sys_write.einval:
        mv      a0, s0
        li      a1, EINVAL
        j       sys_return

# yield() -> 0: go to the back of the ready queue.
sys_yield:
        sw      zero, PCB_A0(s0)
        mv      a0, s0
        call    make_ready
        j       schedule

# sleep(n) -> 0: block for at least n ticks (n <= 0: return at once).
sys_sleep:
        sw      zero, PCB_A0(s0)
        blez    a1, run                 # run(a0 = pcb): nothing to wait for
        la      t0, ticks
        lw      t0, 0(t0)
        add     a1, a1, t0              # wake up at tick now + n
        call    sleep_until             # (pcb, tick)
        j       schedule

# getpid() -> the caller's pid.
sys_getpid:
        lw      a1, PCB_PID(a0)
        j       sys_return

# ticks() -> the number of timer ticks since boot.
sys_ticks:
        la      t0, ticks
        lw      a1, 0(t0)
        j       sys_return

# --------------------------------------------------------------------------------------------------
# kill(a0 = pcb, a1 = cause, a2 = tval): the process caused an exception; end it and tell why.
#   "[kernel] pid 3 killed: store page fault at 0x00000000 (pc 0x004001f0)"   (memory faults)
#   "[kernel] pid 6 killed: privileged instruction 0x0000005a at pc 0x00400468" (bad instructions)
kill:
        mv      s0, a0
        mv      s1, a1
        mv      s2, a2
        sw      s1, PCB_EXIT(s0)        # remember why
        li      t0, P_KILLED
        sw      t0, PCB_STATE(s0)
        la      a0, s_pid               # "[kernel] pid "
        call    kputs
        lw      a0, PCB_PID(s0)
        call    kputdec
        la      a0, s_killed            # " killed: "
        call    kputs
        mv      a0, s1
        call    cause_name
        call    kputs
        li      t0, CAUSE_PRIVILEGED
        bgtu    s1, t0, kill.address
        # illegal or privileged instruction: tval is the instruction word
        li      a0, ' '
        call    kputc
        mv      a0, s2
        call    kputhex
        la      a0, s_at_pc             # " at pc "
        call    kputs
        lw      a0, PCB_PC(s0)
        call    kputhex
        j       kill.told
kill.address:
        li      t0, CAUSE_BREAKPOINT
        beq     s1, t0, kill.pc_only
        li      t0, CAUSE_SYSCALL
        beq     s1, t0, kill.pc_only
        # a memory fault: tval is the address it tried to use
        la      a0, s_at                # " at "
        call    kputs
        mv      a0, s2
        call    kputhex
        la      a0, s_pc                # " (pc "
        call    kputs
        lw      a0, PCB_PC(s0)
        call    kputhex
        li      a0, ')'
        call    kputc
        j       kill.told
kill.pc_only:
        la      a0, s_at_pc
        call    kputs
        lw      a0, PCB_PC(s0)
        call    kputhex
kill.told:
        call    kputnl
        # fall through

# process_gone (s0 = pcb of a process that just exited or was killed): one fewer alive.
# (Its frames are not reclaimed: the bump allocator never frees.)
process_gone:
        la      t0, current
        sw      zero, 0(t0)
        la      t0, nr_alive
        lw      t1, 0(t0)
        addi    t1, t1, -1
        sw      t1, 0(t0)
        j       schedule

# cause_name(a0 = cause) -> a0 = its name (a string).
cause_name:
        li      t0, CAUSE_ACCESS_FAULT
        bgtu    a0, t0, cause_name.other    # (unsigned: interrupts have bit 31 set)
        slli    a0, a0, 2
        la      t0, cause_names
        add     t0, t0, a0
        lw      a0, 0(t0)
        ret
cause_name.other:
        li      t0, INTR_BIT
        beq     a0, t0, cause_name.timer
        la      a0, c_unknown
        ret
cause_name.timer:
        la      a0, c_timer
        ret

# --------------------------------------------------------------------------------------------------
# trap_from_kernel_irq(a0 = cause, a1 = pc where it was taken): an interrupt taken in kernel mode.
# The kernel enables interrupts in one place only, the idle window of hal_wait, while every live
# process sleeps: this is the timer tick that idle loop waits for. Count it and let tick() wake
# the sleepers whose time has come; the HAL then returns to the idle loop, which looks at the
# ready queue again. (A normal routine: it returns. Anywhere else an interrupt is a kernel bug.)
trap_from_kernel_irq:
        la      t0, hal_idle_window
        bne     a1, t0, trap_from_kernel_irq.stray
        li      t0, INTR_BIT | 0        # the timer (line 0)
        bne     a0, t0, trap_from_kernel_irq.done   # no other line is enabled; ignore it
        la      t0, idle_ticks
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        j       tick                    # tail call: tick returns to our caller (the HAL)
trap_from_kernel_irq.done:
        ret
trap_from_kernel_irq.stray:
        la      a0, s_stray_irq         # "interrupt in kernel mode outside the idle window"
        j       panic

# trap_without_process(a0 = cause, a1 = pc, a2 = tval): the trap entry read PMODE = user from
# `status`, but no process was running: the kernel was idle, so the trap came from the kernel and
# `status` lied. On real hardware this cannot happen. It does happen to this kernel under
# trap-and-emulate on a machine that lets a deprivileged kernel read `status` without trapping
# (`strict=False`: see hal.s and tests/test_popek_goldberg.py): the idle tick looks like a tick
# from user mode. Saving "the user's" registers would write them into no PCB at all, so stop.
#   "[kernel] PANIC: timer interrupt from user mode, but no process is running (pc 0x000081a4)"
trap_without_process:
        mv      s0, a0
        mv      s1, a1
        call    panic_begin
        mv      a0, s0
        call    cause_name
        call    kputs
        la      a0, s_no_process        # " from user mode, but no process is running (pc "
        call    kputs
        mv      a0, s1
        call    kputhex
        li      a0, ')'
        call    kputc
        call    kputnl
        li      a0, PANIC_EXIT
        j       hal_poweroff

# --------------------------------------------------------------------------------------------------
# kernel_fault(a0 = cause, a1 = pc, a2 = tval): the kernel itself caused an exception. There is
# nothing to kill and nothing to trust: report it and power off. Never returns.
kernel_fault:
        mv      s0, a0
        mv      s1, a1
        mv      s2, a2
        call    panic_begin
        mv      a0, s0
        call    cause_name
        call    kputs
        la      a0, s_in_kernel         # " in kernel mode at pc "
        call    kputs
        mv      a0, s1
        call    kputhex
        la      a0, s_tval              # ", tval "
        call    kputs
        mv      a0, s2
        call    kputhex
        call    kputnl
        li      a0, PANIC_EXIT
        j       hal_poweroff

# panic(a0 = message): a kernel bug was detected. Never returns.
panic:
        la      sp, kstack_top
        mv      s0, a0
        call    panic_begin
        mv      a0, s0
        call    kputs
        call    kputnl
        li      a0, PANIC_EXIT
        j       hal_poweroff

# panic_begin(): print "[kernel] PANIC: ". A second panic while panicking (a fault in the panic
# code itself) stops the CPU at once instead of looping.
panic_begin:
        la      t0, panicking
        lw      t1, 0(t0)
        bnez    t1, panic_begin.again
        li      t1, 1
        sw      t1, 0(t0)
        la      a0, s_panic
        j       kputs                   # tail call
panic_begin.again:
        li      a0, DOUBLE_PANIC
        j       hal_halt

        .align  4
cause_names:                            # indexed by the cause code
        .word   c_unknown, c_illegal, c_privileged, c_mfetch, c_mload, c_mstore
        .word   c_pfetch, c_pload, c_pstore, c_syscall, c_break, c_access
c_unknown:      .asciz "unknown trap"
c_illegal:      .asciz "illegal instruction"
c_privileged:   .asciz "privileged instruction"
c_mfetch:       .asciz "misaligned fetch"
c_mload:        .asciz "misaligned load"
c_mstore:       .asciz "misaligned store"
c_pfetch:       .asciz "fetch page fault"
c_pload:        .asciz "load page fault"
c_pstore:       .asciz "store page fault"
c_syscall:      .asciz "syscall"
c_break:        .asciz "breakpoint"
c_access:       .asciz "access fault"
c_timer:        .asciz "timer interrupt"
s_pid:          .asciz "[kernel] pid "
s_exited:       .asciz " exited with code "
s_killed:       .asciz " killed: "
s_at:           .asciz " at "
s_at_pc:        .asciz " at pc "
s_pc:           .asciz " (pc "
s_panic:        .asciz "[kernel] PANIC: "
s_in_kernel:    .asciz " in kernel mode at pc "
s_tval:         .asciz ", tval "
s_no_process:   .asciz " from user mode, but no process is running (pc "
s_stray_irq:    .asciz "interrupt in kernel mode outside the idle window"
        .align  4
