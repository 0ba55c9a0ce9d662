# minikernel/sched.s -- the scheduler: ready queue, sleep queue, timer ticks, dispatch and idle.
#
# Preemptive round robin. Processes that can run wait in the READY queue (first in, first out).
# A timer interrupt arrives every QUANTUM cycles (a "tick"); it sends the running process to the
# back of the ready queue and runs the one at the front. A process also leaves the CPU when it
# makes a system call that blocks (sleep), gives up the CPU (yield) or ends (exit, killed).
#
# Sleeping processes wait in the SLEEP queue, sorted by the tick at which they wake up; every tick
# moves the ones whose time has come to the ready queue (before the preempted process, so a
# process that slept gets the CPU soon after it wakes up).
#
# The kernel runs with interrupts off (status.IE = 0) except in one place: the idle loop, which
# opens a short window for the timer interrupt it waits for (hal_wait in hal.s). It keeps nothing
# on its stack between two traps: everything that lasts is in the process table and the variables
# in data.s. That is why there is a single kernel stack, and why "switching to another process"
# is nothing more than returning to user mode with a different PCB (see run).

        .text

# make_ready(a0 = pcb): state = READY, append it to the tail of the ready queue.
make_ready:
        li      t0, P_READY
        sw      t0, PCB_STATE(a0)
        sw      zero, PCB_NEXT(a0)
        la      t0, ready_tail
        lw      t1, 0(t0)               # t1 = the last ready process, or 0
        sw      a0, 0(t0)               # it is now a0
        beqz    t1, make_ready.empty
        sw      a0, PCB_NEXT(t1)        # old last -> a0
        ret
make_ready.empty:
        la      t0, ready_head          # the queue was empty: a0 is also the first
        sw      a0, 0(t0)
        ret

# ready_pop() -> a0 = the first ready process (removed from the queue), or 0 if none.
ready_pop:
        la      t0, ready_head
        lw      a0, 0(t0)
        beqz    a0, ready_pop.ret
        lw      t1, PCB_NEXT(a0)
        sw      t1, 0(t0)               # head = its successor
        bnez    t1, ready_pop.ret
        la      t0, ready_tail          # it was the only one: the queue is empty now
        sw      zero, 0(t0)
ready_pop.ret:
        ret

# sleep_until(a0 = pcb, a1 = wake-up tick): state = SLEEPING, insert it into the sleep queue,
# which is kept sorted by wake-up tick (a process goes after those that wake at the same tick).
sleep_until:
        sw      a1, PCB_WAKE(a0)
        li      t0, P_SLEEPING
        sw      t0, PCB_STATE(a0)
        la      t0, sleep_head          # t0 = the address of the link to follow (a "next" field)
sleep_until.scan:
        lw      t1, 0(t0)               # t1 = the sleeper after that link
        beqz    t1, sleep_until.insert  # end of the queue
        lw      t2, PCB_WAKE(t1)
        bltu    a1, t2, sleep_until.insert  # t1 wakes later than us: we go before it
        addi    t0, t1, PCB_NEXT        # else follow t1's link
        j       sleep_until.scan
sleep_until.insert:
        sw      t1, PCB_NEXT(a0)        # us -> t1
        sw      a0, 0(t0)               # link -> us
        ret

# tick(): one timer tick. Count it, arm the timer for the next one, wake up the sleepers whose
# wake-up tick has come.
tick:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        la      t0, ticks
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        call    tick_advance
tick.wake:
        la      t0, sleep_head
        lw      a0, 0(t0)               # a0 = the sleeper that wakes first
        beqz    a0, tick.done
        lw      t1, PCB_WAKE(a0)
        la      t2, ticks
        lw      t2, 0(t2)
        bltu    t2, t1, tick.done       # not yet (and nobody behind it either: sorted)
        lw      t1, PCB_NEXT(a0)
        sw      t1, 0(t0)               # unlink it ...
        call    make_ready              # ... and make it ready
        j       tick.wake
tick.done:
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# tick_advance(): next_tick += QUANTUM (a 64-bit cycle number) and arm the timer for it.
# Adding to the previous deadline, rather than to "now", keeps the ticks exactly QUANTUM cycles
# apart however long the kernel took to get here.
tick_advance:
        la      t0, next_tick
        lw      a0, 0(t0)               # low word
        lw      a1, 4(t0)               # high word
        li      t1, QUANTUM
        add     t2, a0, t1
        sltu    t3, t2, a0              # carry out of the low word
        add     a1, a1, t3
        mv      a0, t2
        sw      a0, 0(t0)
        sw      a1, 4(t0)
        j       hal_timer_set           # tail call: hal_timer_set(low, high) returns to our caller

# run(a0 = pcb): make it the current process and return to it in user mode. Never returns.
#
# If it is not the process whose address space is loaded, this is a context switch: load its
# page table (which also flushes the TLB). Its registers were saved by the trap entry, and
# hal_return_to_user loads them back.
run:
        mv      s0, a0                  # (run never returns, so s0 need not be preserved)
        li      t0, P_RUNNING
        sw      t0, PCB_STATE(s0)
        la      t0, current
        sw      s0, 0(t0)
        la      t0, last_run
        lw      t1, 0(t0)
        beq     t1, s0, run.same        # the same process as last time: nothing to switch
        sw      s0, 0(t0)
        la      t0, nr_switches
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        lw      a0, PCB_PTBR(s0)
        call    hal_set_ptbr            # switch address space
run.same:
        call    hal_read_instret        # for its instruction count (see trap_from_user)
        la      t0, run_instret
        sw      a0, 0(t0)
        mv      a0, s0
        j       hal_return_to_user

# schedule(): run the next ready process. If none is ready but some are asleep, wait (idle) for
# ticks until one wakes up. If none is left at all, the system is done: shut down.
# Never returns.
schedule:
        call    ready_pop
        bnez    a0, run                 # run(a0)
        la      t0, nr_alive
        lw      t0, 0(t0)
        beqz    t0, shutdown            # (report.s)
        # --- idle: every live process is asleep
        la      t0, current
        sw      zero, 0(t0)             # nobody is running
        call    hal_wait                # sleep to the next tick and take its interrupt, in kernel
                                        # mode: trap_from_kernel_irq (trap.s) counts it as an idle
                                        # tick and wakes the sleepers whose time has come
        j       schedule                # look at the ready queue again
