# minikernel/hal.s -- the hardware abstraction layer: the ONLY privileged code of the kernel.
#
# Every csr access, eret, wfi, tlbflush and halt, and every device register access of the kernel
# is in this file. The rest of the kernel calls the routines below and never touches the hardware
# itself. That is what makes a paravirtualized kernel cheap to write: replace this one file by one
# that makes hypercalls (`.if PV` in minikernel.s) and nothing else changes.
#
# Routines follow the normal calling convention (arguments in a0.., result in a0, they may change
# a0..a3 and t0..t3) except the two ends of a trap, hal_trap_entry and hal_return_to_user, which
# run between user mode and the kernel and are described where they are.
#
# The interface (what a replacement HAL, e.g. minikernel/hal_pv.s, must provide):
#
#   hal_trap_entry              the trap vector. From user mode: saves the user registers in the
#                               current PCB and jumps to trap_from_user(pcb, cause, tval) (or to
#                               trap_without_process(cause, pc, tval) if no process is current).
#                               From kernel mode: an interrupt (only possible in hal_wait's idle
#                               window) calls trap_from_kernel_irq(cause, pc) and returns to the
#                               interrupted kernel code; an exception jumps to
#                               kernel_fault(cause, pc, tval)
#   hal_idle_window             (a label) where hal_wait takes its interrupt: the pc it is taken at
#   hal_return_to_user(pcb)     restore the user registers from the PCB and return to user mode
#   hal_init(vector)            set the trap vector
#   hal_paging_on(l1)           load the first page table and turn paging on
#   hal_set_ptbr(l1)            switch address space (flushes the TLB)
#   hal_tlbflush()              forget cached translations
#   hal_read_cycle() -> a0:a1   the 64-bit cycle counter
#   hal_read_instret() -> a0    retired instructions (low word)
#   hal_timer_set(lo, hi)       the timer interrupt pends from cycle hi:lo on
#   hal_timer_irq_on()          enable the timer interrupt line
#   hal_wait()                  idle until the next interrupt and take it (in kernel mode)
#   hal_putc(byte)              console output
#   hal_poweroff(code)          power off with an exit code
#   hal_halt(code)              stop the CPU (last resort)
#
# Why this matters for virtualization: under trap-and-emulate, each privileged instruction here
# costs an exit to the hypervisor. Counting where they are is counting the overhead.

        .text

# ==================================================================================================
# hal_trap_entry: the trap vector (tvec). The CPU comes here on every exception and interrupt with
# MODE = kernel, IE = 0, PMODE = the mode it was in, epc/cause/tval describing the trap, and every
# general register still holding the interrupted code's values.
#
# The first question is: was the CPU in user mode or in the kernel? Only `status` knows (PMODE),
# so we read it before doing anything that depends on the answer.
#
#   from user:   save the user registers into the current process's PCB, switch to the kernel
#                stack and jump to trap_from_user(pcb, cause, tval) in trap.s.
#   from kernel: either the timer interrupt the idle loop is waiting for (hal_wait opens a short
#                window with interrupts on, and the interrupt is taken there, in kernel mode), or
#                the kernel itself faulted -- a kernel bug: kernel_fault (trap.s) panics.
#
# Popek and Goldberg: on a machine where a deprivileged guest kernel can read `status` without
# trapping (vmlab's `strict=False`), `csrr t0, status` below does not trap under trap-and-emulate:
# it returns the REAL status register, and for the guest kernel the real CPU is always in user
# mode. Every trap then looks as if it came from user mode. For traps that really came from a
# process that is the right answer by luck; for the idle tick it is wrong: the kernel treats its
# own idle loop as a process, finds that no process is running, and panics
# (trap_without_process). Binary translation and hardware assist do not have that problem, and
# neither does a strict machine (there the read traps and the hypervisor answers with the guest's
# virtual status). tests/test_popek_goldberg.py shows all four.
# ==================================================================================================
hal_trap_entry:
        csrw    scratch, t0             # park t0 in the scratch CSR: now we have one free register
        csrr    t0, status              # (the sensitive read: see above)
        andi    t0, t0, ST_PMODE        # PMODE: 1 = the trap came from kernel mode
        bnez    t0, hal_trap_entry.kernel

        # --- from user mode. Kernel memory is reachable (we are in kernel mode now and the kernel
        # is mapped in every address space), so find the current PCB and save everything there.
        la      t0, current             # la is lui + addi: no memory access, t0 is all we use
        lw      t0, 0(t0)               # t0 = PCB of the process that was running
        beqz    t0, hal_trap_entry.nobody   # none: this cannot be a trap from user mode
        sw      ra, PCB_RA(t0)
        sw      sp, PCB_SP(t0)
        sw      gp, PCB_GP(t0)
        sw      a0, PCB_A0(t0)
        sw      a1, PCB_A1(t0)
        sw      a2, PCB_A2(t0)
        sw      a3, PCB_A3(t0)
        sw      t1, PCB_T1(t0)
        sw      t2, PCB_T2(t0)
        sw      t3, PCB_T3(t0)
        sw      s0, PCB_S0(t0)
        sw      s1, PCB_S1(t0)
        sw      s2, PCB_S2(t0)
        sw      s3, PCB_S3(t0)
        csrr    t1, scratch             # the user's t0, parked above
        sw      t1, PCB_T0(t0)
        csrr    t1, epc                 # where the user was: the trapping instruction (exception)
        sw      t1, PCB_PC(t0)          # or the next one to run (interrupt)
        mv      a0, t0                  # a0 = pcb
        csrr    a1, cause               # a1 = cause
        csrr    a2, tval                # a2 = tval
        la      sp, kstack_top          # one kernel stack, fresh on every trap: nothing on it
        j       trap_from_user          # (trap.s) never comes back here

hal_trap_entry.nobody:
        csrr    a0, cause               # "from user mode", but no process was running: the
        csrr    a1, epc                 # status we read cannot be true. Report it and stop
        csrr    a2, tval                # (trap.s) rather than save registers into nowhere.
        la      sp, kstack_top
        j       trap_without_process    # (trap.s) panics, never returns

hal_trap_entry.kernel:
        csrr    t0, cause
        bltz    t0, hal_trap_entry.irq  # bit 31 set: an interrupt, taken in the idle window
        csrr    a0, cause               # an exception in kernel mode: a0 = cause
        csrr    a1, epc                 # a1 = kernel pc that faulted
        csrr    a2, tval                # a2 = tval
        la      sp, kstack_top          # the kernel's stack may be what broke: start a fresh one
        j       kernel_fault            # (trap.s) panics, never returns

        # --- an interrupt in kernel mode. Unlike a trap from user mode, we come BACK here: the
        # interrupted kernel code (hal_wait) continues after the interrupt as if nothing happened.
        # So everything a call may change is saved on the kernel stack (the stack the kernel was
        # using: the idle loop's) and restored before `eret`. The handler runs with IE = 0 (the
        # trap cleared it), so nothing can interrupt it, and epc stays valid until the `eret`.
hal_trap_entry.irq:
        addi    sp, sp, -40
        sw      ra, 0(sp)
        sw      a0, 4(sp)
        sw      a1, 8(sp)
        sw      a2, 12(sp)
        sw      a3, 16(sp)
        sw      t1, 20(sp)
        sw      t2, 24(sp)
        sw      t3, 28(sp)
        csrr    t1, scratch             # the interrupted t0, parked at the entry
        sw      t1, 32(sp)
        mv      a0, t0                  # a0 = cause
        csrr    a1, epc                 # a1 = where it was taken
        call    trap_from_kernel_irq    # (trap.s) count the idle tick, wake sleepers
        lw      ra, 0(sp)
        lw      a0, 4(sp)
        lw      a1, 8(sp)
        lw      a2, 12(sp)
        lw      a3, 16(sp)
        lw      t1, 20(sp)
        lw      t2, 24(sp)
        lw      t3, 28(sp)
        lw      t0, 32(sp)
        addi    sp, sp, 40
        eret                            # back to epc; MODE = PMODE (kernel), IE = PIE (1): hal_wait
                                        # closes the window at once

# ==================================================================================================
# hal_return_to_user(a0 = pcb): resume the process whose registers are saved in the PCB.
#
# The address space (ptbr) must already be the process's. `eret` jumps to epc and sets
# MODE = PMODE (user) and IE = PIE (on). We never write `status` here: every trap from user mode
# leaves PMODE = user and PIE = 1 in it, which is what we want, and boot (hal_paging_on) set them
# up for the very first eret. (Writing status would also flush the TLB.)
# Never returns.
# ==================================================================================================
hal_return_to_user:
        lw      t0, PCB_PC(a0)
        csrw    epc, t0
        mv      sp, a0                  # sp = pcb: the base register, restored last
        lw      ra, PCB_RA(sp)
        lw      gp, PCB_GP(sp)
        lw      a0, PCB_A0(sp)
        lw      a1, PCB_A1(sp)
        lw      a2, PCB_A2(sp)
        lw      a3, PCB_A3(sp)
        lw      t0, PCB_T0(sp)
        lw      t1, PCB_T1(sp)
        lw      t2, PCB_T2(sp)
        lw      t3, PCB_T3(sp)
        lw      s0, PCB_S0(sp)
        lw      s1, PCB_S1(sp)
        lw      s2, PCB_S2(sp)
        lw      s3, PCB_S3(sp)
        lw      sp, PCB_SP(sp)          # last: the user's own sp
        eret

# --------------------------------------------------------------------------------------------------
# hal_init(a0 = trap vector address): where the CPU goes on a trap.
hal_init:
        csrw    tvec, a0
        ret

# hal_paging_on(a0 = physical address of a level-1 table): load it and turn paging on.
# status = KSTATUS (defs.s): MODE (kernel) | PG, with IE = 0: the kernel runs with interrupts off.
# PMODE = 0 (user) and PIE = 1 are set now for the first eret into a user process.
# The code keeps running at the same addresses because the kernel is identity-mapped.
hal_paging_on:
        csrw    ptbr, a0
        li      t0, KSTATUS
        csrw    status, t0
        ret

# hal_set_ptbr(a0 = physical address of a level-1 table): switch address space. Writing ptbr
# also flushes the TLB (the TLB has no address-space tags), so this is the price of a switch.
hal_set_ptbr:
        csrw    ptbr, a0
        ret

# hal_tlbflush(): forget every cached translation (needed after changing a live page table; this
# kernel only edits page tables before they are loaded, so it does not call it today).
hal_tlbflush:
        tlbflush
        ret

# hal_read_cycle() -> a0 = cycle counter low word, a1 = high word (read consistently: if the low
# word wrapped between the two reads of the high word, read again).
hal_read_cycle:
        csrr    a1, cycleh
        csrr    a0, cycle
        csrr    t0, cycleh
        bne     a1, t0, hal_read_cycle
        ret

# hal_read_instret() -> a0 = retired instructions, low word.
hal_read_instret:
        csrr    a0, instret
        ret

# hal_timer_set(a0 = low word, a1 = high word): the timer interrupt pends from that cycle on.
# Writing timecmp clears a pending timer interrupt. The high word is first set to the maximum so
# that the half-written 64-bit value is never briefly in the past.
hal_timer_set:
        li      t0, -1
        csrw    timecmph, t0
        csrw    timecmp, a0
        csrw    timecmph, a1
        ret

# hal_timer_irq_on(): enable the timer interrupt line. It is taken in user mode (status.IE is 1
# there) and in the idle window of hal_wait; the rest of the kernel runs with IE = 0.
hal_timer_irq_on:
        li      t0, IRQ_TIMER_BIT
        csrw    ie, t0
        ret

# hal_wait(): idle until the next interrupt, and take it here, in kernel mode.
#
#   1. `wfi` with IE still 0: the CPU sleeps until an enabled interrupt is pending (the machine
#      skips the idle time to the timer deadline). Nothing is taken yet.
#   2. Open the window: status = KSTATUS | IE. The pending interrupt is taken at once, before the
#      next instruction (epc = hal_idle_window, PMODE = kernel); the trap entry sees PMODE =
#      kernel, lets trap_from_kernel_irq count the tick and wake sleepers, and erets back here.
#   3. Close it: status = KSTATUS again (IE = 0, and PMODE = user, PIE = 1 for the next eret into
#      a process: the interrupt left PMODE = kernel behind).
#
# Why wait first and enable afterwards, not the other way round: with IE on during the whole
# wait, a tick arriving just before the `wfi` would be taken there, and the `wfi` would then sleep
# through a whole quantum although that tick may have woken a process (a "lost wake-up").
hal_wait:
        wfi
        li      t0, KSTATUS | ST_IE
        csrw    status, t0              # interrupts on: the pending one is taken right here
hal_idle_window:
        li      t0, KSTATUS
        csrw    status, t0              # interrupts off again
        ret

# hal_putc(a0 = byte): send one byte to the console (a word store to the TX register).
hal_putc:
        li      t0, CONSOLE_BASE
        sw      a0, CON_TX(t0)
        ret

# hal_poweroff(a0 = exit code): switch the machine off. Never returns.
hal_poweroff:
        li      t0, POWER_BASE
        sw      a0, PWR_EXIT_CODE(t0)
        li      t1, 1                   # CTRL: 1 = power off
        sw      t1, PWR_CTRL(t0)
        halt                            # not reached; stops the CPU should the device be missing

# hal_halt(a0 = exit code): stop the CPU without using any device (last resort of a panic).
hal_halt:
        halt
        j       hal_halt
