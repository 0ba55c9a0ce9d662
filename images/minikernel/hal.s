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
#   hal_trap_entry              the trap vector; jumps to trap_from_user(pcb, cause, tval) or to
#                               kernel_fault(cause, pc, tval)
#   hal_return_to_user(pcb)     restore the user registers from the PCB and return to user mode
#   hal_init(vector)            set the trap vector
#   hal_paging_on(l1)           load the first page table and turn paging on
#   hal_set_ptbr(l1)            switch address space (flushes the TLB)
#   hal_tlbflush()              forget cached translations
#   hal_read_cycle() -> a0:a1   the 64-bit cycle counter
#   hal_read_instret() -> a0    retired instructions (low word)
#   hal_timer_set(lo, hi)       the timer interrupt pends from cycle hi:lo on
#   hal_timer_irq_on()          enable the timer interrupt
#   hal_timer_pending() -> a0   1 if the timer interrupt is pending
#   hal_wait()                  wait for an interrupt (idle)
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
# so we read it before doing anything that depends on the answer. (On a machine where a
# deprivileged guest kernel can read `status` without trapping, this is exactly the check that
# silently goes wrong under trap-and-emulate: the guest kernel sees the REAL PMODE.)
#
#   from user:   save the user registers into the current process's PCB, switch to the kernel
#                stack and jump to trap_from_user(pcb, cause, tval) in trap.s.
#   from kernel: the kernel itself faulted -- a kernel bug. Jump to kernel_fault (trap.s) which
#                panics. (The kernel runs with interrupts off, so it never gets an interrupt.)
# ==================================================================================================
hal_trap_entry:
        csrw    scratch, t0             # park t0 in the scratch CSR: now we have one free register
        csrr    t0, status
        andi    t0, t0, ST_PMODE        # PMODE: 1 = the trap came from kernel mode
        bnez    t0, hal_trap_entry.kernel

        # --- from user mode. Kernel memory is reachable (we are in kernel mode now and the kernel
        # is mapped in every address space), so find the current PCB and save everything there.
        la      t0, current             # la is lui + addi: no memory access, t0 is all we use
        lw      t0, 0(t0)               # t0 = PCB of the process that was running
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

hal_trap_entry.kernel:
        csrr    a0, cause               # a0 = cause
        csrr    a1, epc                 # a1 = kernel pc that faulted
        csrr    a2, tval                # a2 = tval
        la      sp, kstack_top          # the kernel's stack may be what broke: start a fresh one
        j       kernel_fault            # (trap.s) panics, never returns

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
# status = MODE (kernel) | PG, with IE = 0: the kernel always runs with interrupts off.
# PMODE = 0 (user) and PIE = 1 are set now for the first eret into a user process.
# The code keeps running at the same addresses because the kernel is identity-mapped.
hal_paging_on:
        csrw    ptbr, a0
        li      t0, ST_MODE | ST_PG | ST_PIE
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

# hal_timer_irq_on(): enable the timer interrupt line (it is taken only in user mode, where
# status.IE is 1; in the kernel IE is 0 and the kernel polls with hal_timer_pending).
hal_timer_irq_on:
        li      t0, IRQ_TIMER_BIT
        csrw    ie, t0
        ret

# hal_timer_pending() -> a0 = 1 if the timer interrupt is pending, else 0.
hal_timer_pending:
        csrr    a0, ip
        andi    a0, a0, IRQ_TIMER_BIT
        ret

# hal_wait(): wait for an interrupt. Returns as soon as an enabled interrupt is pending (even
# though status.IE is 0 in the kernel, so nothing is taken: the caller checks what happened).
# The machine skips the idle time to the timer deadline.
hal_wait:
        wfi
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
