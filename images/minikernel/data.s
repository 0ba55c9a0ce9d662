# minikernel/data.s -- the kernel's variables, the process table and the kernel stack.
#
# Everything the kernel remembers between two traps is here (nothing stays on the kernel stack).
# It is all kernel-only memory: the RAM superpage has no U bit.

        .data
        .align  4
current:        .word   0               # PCB of the running process (0 while idle)
last_run:       .word   0               # PCB whose address space is loaded (ptbr)
ready_head:     .word   0               # ready queue: first PCB (linked by PCB_NEXT) ...
ready_tail:     .word   0               # ... and last
sleep_head:     .word   0               # sleep queue, sorted by PCB_WAKE
nr_alive:       .word   0               # processes that have not ended
ticks:          .word   0               # timer ticks since boot
idle_ticks:     .word   0               # ... of which arrived while every process slept
nr_switches:    .word   0               # context switches (run() loading another process)
nr_syscalls:    .word   0               # system calls
run_instret:    .word   0               # instret when the current process was last resumed
next_tick:      .word   0, 0            # cycle of the next timer tick (64 bits: low, high)
kernel_l1:      .word   0               # the kernel's own level-1 page table
free_frame:     .word   0               # the next frame frame_alloc hands out
frame_limit:    .word   0               # ... and where the frames end
ram_top:        .word   0               # end of RAM (the loader's sp at _start)
panicking:      .word   0               # 1 once a panic has started

        .align  128
proc_table:     .space  NPROC * PCB_SIZE    # the process control blocks, pid = slot + 1

        .align  16
kstack:         .space  KSTACK_SIZE     # the kernel stack (one: only the idle loop is ever
                                        # interrupted, and the interrupt returns to it)
kstack_top:

kernel_end:                             # frames for page tables and processes start after this
