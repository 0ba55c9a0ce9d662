# minikernel/boot.s -- from reset to the first user process: kmain, the program table and
# process creation.

        .text

# The CPU starts here in kernel mode, paging off, interrupts off (docs/machine.md). The loader
# put the top of RAM in sp: that is how the kernel learns how much memory there is.
_start:
        la      t0, ram_top
        sw      sp, 0(t0)               # remember the RAM size for the frame allocator
        la      sp, kstack_top          # and use our own stack
        j       kmain

# kmain(): boot the system. Never returns: it ends by running the first process.
kmain:
        la      a0, hal_trap_entry
        call    hal_init                # traps go to hal_trap_entry from now on
        la      a0, s_boot              # "[kernel] minikernel booting"
        call    kputs
        call    kputnl

        # --- memory: frame allocator and the kernel's own page tables, then paging on ----------
        call    vm_init                 # -> a0 = kernel level-1 table
        call    hal_paging_on
        la      a0, s_paging            # "[kernel] paging on, kernel page table at "
        call    kputs
        la      t0, kernel_l1
        lw      a0, 0(t0)
        call    kputhex
        call    kputnl

        # --- one process per program-table entry ----------------------------------------------
        la      s0, programs            # s0 = program entry
        la      s1, proc_table          # s1 = PCB to fill
kmain.create:
        la      t0, programs_end
        bgeu    s0, t0, kmain.created
        mv      a0, s1
        mv      a1, s0
        call    proc_create
        addi    s0, s0, PROG_SIZE
        addi    s1, s1, PCB_SIZE
        j       kmain.create
kmain.created:

        # --- time: the first tick one quantum from now, then the timer interrupt on -----------
        la      a0, s_timer             # "[kernel] timer: one tick every "
        call    kputs
        li      a0, QUANTUM
        call    kputdec
        la      a0, s_cycles            # " cycles"
        call    kputs
        call    kputnl
        call    hal_read_cycle          # a0:a1 = now
        la      t0, next_tick
        sw      a0, 0(t0)               # next_tick = now; tick_advance adds one quantum
        sw      a1, 4(t0)
        call    tick_advance            # timecmp = now + QUANTUM
        call    hal_timer_irq_on
        j       schedule                # (sched.s) run the first ready process; never returns

# proc_create(a0 = pcb, a1 = program-table entry): build a process and make it ready.
#
# Its address space: a new level-1 table holding the kernel's mappings (kernel-only), a private
# copy of the whole user image (code pages R X U, data pages R W U) at UBASE, and a zeroed stack
# page just below USTACK_TOP. Every frame comes from frame_alloc and belongs to this process.
proc_create:
        addi    sp, sp, -24
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        sw      s2, 12(sp)
        sw      s3, 16(sp)
        mv      s0, a0                  # s0 = pcb
        mv      s1, a1                  # s1 = program entry

        # pid = slot number + 1; everything else starts at zero (the table is zeroed in data.s)
        la      t0, proc_table
        sub     t1, s0, t0
        srli    t1, t1, 7               # / PCB_SIZE (128)
        addi    t1, t1, 1
        sw      t1, PCB_PID(s0)
        sw      s1, PCB_PROG(s0)

        # --- the address space
        call    vm_new_space            # -> a0 = level-1 table with the kernel mapped
        sw      a0, PCB_PTBR(s0)
        mv      s2, a0                  # s2 = level-1 table

        # user code + read-only data: image pages [ublob_start, udata_start) -> R X U at UBASE
        mv      a0, s2
        la      a1, ublob_start         # a1 = source (physical = kernel virtual address)
        la      a2, udata_start         # a2 = end of the source
        li      a3, UBASE | PTE_R | PTE_X | PTE_U   # a3 = user virtual address | permissions
        call    vm_copy_in              # -> a0 = next user virtual address
        # user data: image pages [udata_start, ublob_end) -> R W U, right after the code
        ori     a3, a0, PTE_R | PTE_W | PTE_U
        mv      a0, s2
        la      a1, udata_start
        la      a2, ublob_end
        call    vm_copy_in
        mv      s3, a0                  # s3 = end of the user image (user virtual)
        # stack: one zeroed page just below USTACK_TOP
        call    frame_alloc
        mv      a2, a0                  # a2 = the frame
        mv      a0, s2
        li      a1, USTACK_TOP - PAGE_SIZE
        li      a3, PTE_R | PTE_W | PTE_U
        call    vm_map

        # --- the registers it starts with: all zero except pc and sp
        lw      t0, PROG_ENTRY(s1)      # image address of the program's first instruction ...
        la      t1, ublob_start
        sub     t0, t0, t1
        li      t1, UBASE
        add     t0, t0, t1              # ... is at the same offset in the process's copy
        sw      t0, PCB_PC(s0)
        li      t0, USTACK_TOP
        sw      t0, PCB_SP(s0)

        # "[kernel] created pid 1 (primes): 0x00400000-0x00402000, stack 0x007ff000, L1 0x0010a000"
        la      a0, s_created
        call    kputs
        lw      a0, PCB_PID(s0)
        call    kputdec
        la      a0, s_lparen            # " ("
        call    kputs
        lw      a0, PROG_NAME(s1)
        call    kputs
        la      a0, s_image             # "): image "
        call    kputs
        li      a0, UBASE
        call    kputhex
        li      a0, '-'
        call    kputc
        mv      a0, s3
        call    kputhex
        la      a0, s_stack             # ", stack "
        call    kputs
        li      a0, USTACK_TOP - PAGE_SIZE
        call    kputhex
        la      a0, s_l1                # ", L1 "
        call    kputs
        mv      a0, s2
        call    kputhex
        call    kputnl

        # --- ready to run
        la      t0, nr_alive
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        mv      a0, s0
        call    make_ready              # (sched.s) state = READY, append to the ready queue

        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        lw      s2, 12(sp)
        lw      s3, 16(sp)
        addi    sp, sp, 24
        ret

# ==================================================================================================
# The program table: one process is created per entry, pids 1, 2, ... in this order.
# Each entry: name, entry point (its label in the user image), how it is expected to end, and the exit
# code (END_EXIT) or the trap cause (END_KILLED) expected. The summary checks every outcome and
# the power-off exit code is the number of processes that did not end as expected.
# ==================================================================================================
        .align  4
programs:
        .word   n_primes,  prog_primes,  END_EXIT,   0
        .word   n_collatz, prog_collatz, END_EXIT,   0
        .word   n_faulty,  prog_faulty,  END_KILLED, CAUSE_STORE_PAGE_FAULT
        .word   n_ticker,  prog_ticker,  END_EXIT,   42
        .word   n_pinger,  prog_pinger,  END_EXIT,   0
        .word   n_rogue,   prog_rogue,   END_KILLED, CAUSE_PRIVILEGED
        .word   n_junk,    prog_junk,    END_KILLED, CAUSE_ILLEGAL
programs_end:

n_primes:   .asciz "primes"
n_collatz:  .asciz "collatz"
n_faulty:   .asciz "faulty"
n_ticker:   .asciz "ticker"
n_pinger:   .asciz "pinger"
n_rogue:    .asciz "rogue"
n_junk:     .asciz "junk"

s_boot:     .asciz "[kernel] minikernel booting"
s_paging:   .asciz "[kernel] paging on, kernel page table at "
s_timer:    .asciz "[kernel] timer: one tick every "
s_cycles:   .asciz " cycles"
s_created:  .asciz "[kernel] created pid "
s_lparen:   .asciz " ("
s_image:    .asciz "): image "
s_stack:    .asciz ", stack "
s_l1:       .asciz ", L1 "
        .align  4
