# minikernel/hal_pv.s -- the PARAVIRTUAL hardware abstraction layer: hal.s, rewritten to ask the
# hypervisor (`hcall`) instead of executing privileged instructions.
#
# Built with PV=1 (minikernel.s includes this file instead of hal.s; nothing else in the kernel
# changes). It provides the same routines as hal.s -- read hal.s first: the interface and the
# reasons are described there -- and contains no privileged instruction and no device access at
# all. It needs vmlab's hypervisor (a VM in mode="paravirtual"); on bare metal the first `hcall`
# (in hal_init, before there is a trap vector) is an illegal instruction and the machine stops
# with a fault.
#
# A hypercall: number in a0, arguments in a1..a3, result in a0; every other register is kept.
# The calls are listed in vmlab/hypervisor/hypercalls.py (the HC_* numbers below mirror it).
#
# Why a paravirtual kernel is cheaper than trap-and-emulate: under trap-and-emulate every
# privileged instruction of hal.s is an exit (a trap into the hypervisor, which decodes and
# emulates it), and every byte written to the console is another. Here each hypercall is one exit
# too, but one call does what several instructions did:
#
#   hal.s under trap-and-emulate                   hal_pv.s
#   trap entry: scratch, status, scratch, epc,     one trap_info (cause, epc, tval, status at once)
#               cause, tval (6 exits)
#   return to user: csrw epc + eret (2 exits)      one eret_regs (also restores a0..a3)
#   timer: timecmph, timecmp, timecmph (3 exits)   one batch of two csr_writes
#   console: one device exit per byte              one console_write per line (buffered)
#
# And it cannot be fooled by `status`: the status it gets from trap_info is the guest's virtual
# one, so the Popek-Goldberg problem of hal.s (a `csrr status` that does not trap on a machine with
# strict=False) does not exist here.

        .text

# --- the hypervisor interface (vmlab/hypervisor/hypercalls.py) ------------------------------------
        .equ    HC_VERSION, 0           # -> interface version
        .equ    HC_CSR_READ, 1          # a1 = csr -> value
        .equ    HC_CSR_WRITE, 2         # a1 = csr, a2 = value -> 0
        .equ    HC_IDLE, 4              # wait until an enabled interrupt is pending (like wfi)
        .equ    HC_TLBFLUSH, 5
        .equ    HC_POWEROFF, 6          # a1 = exit code; does not return
        .equ    HC_CONSOLE_WRITE, 7     # a1 = buffer (guest-physical), a2 = length
        .equ    HC_BATCH, 9             # a1 = (num, arg1, arg2) triples, a2 = how many -> done
        .equ    HC_TRAP_INFO, 12        # -> a0 = cause, a1 = epc, a2 = tval, a3 = status
        .equ    HC_ERET_REGS, 13        # a1 = saved a0..a3 (4 words), a2 = pc: return there
        .equ    HC_NEED_VERSION, 2      # trap_info and eret_regs appeared in version 2
        .equ    PV_CON_SIZE, 128        # console buffer (hal_putc): longest line before a flush

# CSR numbers (vmlab/isa/arch.py): a hypercall names a CSR by its number
        .equ    CSR_STATUS, 0
        .equ    CSR_TVEC, 1
        .equ    CSR_PTBR, 6
        .equ    CSR_IE, 7
        .equ    CSR_TIMECMP, 9
        .equ    CSR_TIMECMPH, 10
        .equ    CSR_CYCLE, 11
        .equ    CSR_CYCLEH, 12
        .equ    CSR_INSTRET, 13

# ==================================================================================================
# The parking area: four words just below the kernel, at 0x7FF0.
#
# A trap arrives with every register holding the interrupted code's values, and hal.s parks t0 in
# the `scratch` CSR to get a first free register. A PV kernel has no CSR it may touch, and even a
# hypercall needs a0 (its number). What it can always reach is memory at a fixed address below
# 0x8000: `sw a0, PARK_A0(zero)` needs no register but the one it stores (the offset is a 16-bit
# signed immediate, added to r0). So the trap entry parks a0..a3 there, and then asks. Kernel
# memory (no U bit): processes cannot touch it.
# ==================================================================================================
        .equ    PARK, KERNEL_BASE - 16
        .equ    PARK_A0, PARK + 0
        .equ    PARK_A1, PARK + 4
        .equ    PARK_A2, PARK + 8
        .equ    PARK_A3, PARK + 12
        .org    PARK
pv_park:
        .space  16
        .org    KERNEL_BASE             # (an error if the parking area ran into the kernel)

# ==================================================================================================
# hal_trap_entry: the trap vector. The hypervisor delivered the trap (MODE = kernel, IE = 0,
# PMODE/PIE saved, epc/cause/tval set -- in the guest's virtual CSRs) and every general register
# still holds the interrupted code's values.
#
# Park a0..a3, then ONE hypercall returns the four things hal.s reads with four csrr's:
# a0 = cause, a1 = epc, a2 = tval, a3 = status. Then the same three ways as in hal.s:
#   PMODE = user     save the user registers into the current PCB, trap_from_user(pcb, cause, tval)
#   PMODE = kernel   an interrupt: the idle window (trap_from_kernel_irq, then back);
#                    an exception: a kernel bug (kernel_fault)
# ==================================================================================================
hal_trap_entry:
        sw      a0, PARK_A0(zero)       # park a0..a3: the hypercall uses them
        sw      a1, PARK_A1(zero)
        sw      a2, PARK_A2(zero)
        sw      a3, PARK_A3(zero)
        li      a0, HC_TRAP_INFO
        hcall                           # a0 = cause, a1 = epc, a2 = tval, a3 = status
        andi    a3, a3, ST_PMODE        # PMODE: 1 = the trap came from kernel mode
        bnez    a3, hal_trap_entry.kernel

        # --- from user mode: a3 is free now; it becomes the PCB pointer
        la      a3, current
        lw      a3, 0(a3)               # a3 = PCB of the process that was running
        beqz    a3, hal_trap_entry.nobody
        sw      ra, PCB_RA(a3)
        sw      sp, PCB_SP(a3)
        sw      gp, PCB_GP(a3)
        sw      t0, PCB_T0(a3)
        sw      t1, PCB_T1(a3)
        sw      t2, PCB_T2(a3)
        sw      t3, PCB_T3(a3)
        sw      s0, PCB_S0(a3)
        sw      s1, PCB_S1(a3)
        sw      s2, PCB_S2(a3)
        sw      s3, PCB_S3(a3)
        lw      t0, PARK_A0(zero)       # the user's a0..a3, from the parking area
        sw      t0, PCB_A0(a3)
        lw      t0, PARK_A1(zero)
        sw      t0, PCB_A1(a3)
        lw      t0, PARK_A2(zero)
        sw      t0, PCB_A2(a3)
        lw      t0, PARK_A3(zero)
        sw      t0, PCB_A3(a3)
        sw      a1, PCB_PC(a3)          # epc: where the user was
        mv      a1, a0                  # a1 = cause
        mv      a0, a3                  # a0 = pcb (a2 = tval already)
        la      sp, kstack_top          # one kernel stack, fresh on every trap
        j       trap_from_user          # (trap.s) never comes back here

hal_trap_entry.nobody:                  # "from user mode" with no process running: impossible
        la      sp, kstack_top          # (a0 = cause, a1 = epc, a2 = tval already)
        j       trap_without_process    # (trap.s) panics

hal_trap_entry.kernel:
        bltz    a0, hal_trap_entry.irq  # bit 31 of the cause: an interrupt (the idle window)
        la      sp, kstack_top          # an exception in kernel mode: a kernel bug
        j       kernel_fault            # (trap.s) kernel_fault(cause, pc, tval): panics

        # --- an interrupt in kernel mode: save what a call may change on the kernel stack, with
        # the interrupted a0..a3 next to each other (they are eret_regs's frame), let the kernel
        # count the tick, and return to the interrupted code (hal_wait).
hal_trap_entry.irq:
        addi    sp, sp, -40
        sw      ra, 0(sp)
        lw      a3, PARK_A0(zero)       # the interrupted a0..a3 at sp+4 .. sp+16
        sw      a3, 4(sp)
        lw      a3, PARK_A1(zero)
        sw      a3, 8(sp)
        lw      a3, PARK_A2(zero)
        sw      a3, 12(sp)
        lw      a3, PARK_A3(zero)
        sw      a3, 16(sp)
        sw      t0, 20(sp)
        sw      t1, 24(sp)
        sw      t2, 28(sp)
        sw      t3, 32(sp)
        sw      a1, 36(sp)              # epc: where to go back to
        call    trap_from_kernel_irq    # (trap.s) (a0 = cause, a1 = pc)
        lw      ra, 0(sp)
        lw      t0, 20(sp)
        lw      t1, 24(sp)
        lw      t2, 28(sp)
        lw      t3, 32(sp)
        lw      a2, 36(sp)              # a2 = the pc to return to
        addi    a1, sp, 4               # a1 = the saved a0..a3
        addi    sp, sp, 40              # pop first: the hypercall reads the frame before anything
        li      a0, HC_ERET_REGS        # could reuse that stack space
        hcall                           # eret: back to hal_wait, a0..a3 restored
        j       pv_failed               # only if the frame was not in guest memory

# ==================================================================================================
# hal_return_to_user(a0 = pcb): resume the process whose registers are saved in the PCB.
# Restore everything but a0..a3 ourselves (a0 is the base register), then eret_regs: the
# hypervisor loads a0..a3 from the PCB (PCB_A0..PCB_A3 are four consecutive words), sets
# epc = the saved pc and erets (MODE = PMODE = user, IE = PIE = 1). Never returns.
# ==================================================================================================
hal_return_to_user:
        lw      ra, PCB_RA(a0)
        lw      sp, PCB_SP(a0)
        lw      gp, PCB_GP(a0)
        lw      t0, PCB_T0(a0)
        lw      t1, PCB_T1(a0)
        lw      t2, PCB_T2(a0)
        lw      t3, PCB_T3(a0)
        lw      s0, PCB_S0(a0)
        lw      s1, PCB_S1(a0)
        lw      s2, PCB_S2(a0)
        lw      s3, PCB_S3(a0)
        lw      a2, PCB_PC(a0)          # a2 = where the process continues
        addi    a1, a0, PCB_A0          # a1 = its saved a0..a3
        li      a0, HC_ERET_REGS
        hcall                           # into user mode; does not come back ...
        j       pv_failed               # ... unless the PCB was not in guest memory

# --------------------------------------------------------------------------------------------------
# hal_init(a0 = trap vector address): check that there is a hypervisor that speaks our interface,
# then set the trap vector.
hal_init:
        mv      t3, a0                  # t3 = the vector (hypercalls keep t0..t3)
        li      a0, HC_VERSION
        hcall                           # bare metal: illegal instruction, no tvec yet -> stops
        li      t0, HC_NEED_VERSION
        bltu    a0, t0, hal_init.old
        li      a0, HC_CSR_WRITE
        li      a1, CSR_TVEC
        mv      a2, t3
        hcall
        ret
hal_init.old:                           # a hypervisor too old for this kernel: stop (the exit
        li      a0, PANIC_EXIT          # code says panic; there is no trap vector yet)
        j       hal_halt

# hal_paging_on(a0 = level-1 table): ptbr = a0 and status = KSTATUS (paging on), in one batch.
hal_paging_on:
        mv      a1, a0
        li      a0, CSR_PTBR
        li      a2, CSR_STATUS
        li      a3, KSTATUS
        j       pv_csr_write2           # tail call

# hal_set_ptbr(a0 = level-1 table): switch address space (the hypervisor flushes the TLB).
hal_set_ptbr:
        mv      a2, a0
        li      a0, HC_CSR_WRITE
        li      a1, CSR_PTBR
        hcall
        ret

# hal_tlbflush(): forget every cached translation.
hal_tlbflush:
        li      a0, HC_TLBFLUSH
        hcall
        ret

# hal_read_cycle() -> a0 = cycle counter low word, a1 = high word (read high, low, high again,
# as hal.s does: if the low word wrapped in between, read again).
hal_read_cycle:
        li      a0, HC_CSR_READ
        li      a1, CSR_CYCLEH
        hcall
        mv      t1, a0                  # t1 = high word
        li      a0, HC_CSR_READ
        li      a1, CSR_CYCLE
        hcall
        mv      t2, a0                  # t2 = low word
        li      a0, HC_CSR_READ
        li      a1, CSR_CYCLEH
        hcall
        bne     a0, t1, hal_read_cycle
        mv      a0, t2
        mv      a1, t1
        ret

# hal_read_instret() -> a0 = retired instructions, low word.
hal_read_instret:
        li      a0, HC_CSR_READ
        li      a1, CSR_INSTRET
        hcall
        ret

# hal_timer_set(a0 = low word, a1 = high word): the timer interrupt pends from that cycle on.
# One batch writes both halves. hal.s first sets the high word to the maximum so that the
# half-written value is never in the past; here the guest cannot run between the two writes of a
# batch, so there is no half-written moment.
hal_timer_set:
        mv      a3, a1
        mv      a1, a0
        li      a0, CSR_TIMECMP
        li      a2, CSR_TIMECMPH
        j       pv_csr_write2           # tail call

# hal_timer_irq_on(): enable the timer interrupt line.
hal_timer_irq_on:
        li      a0, HC_CSR_WRITE
        li      a1, CSR_IE
        li      a2, IRQ_TIMER_BIT
        hcall
        ret

# hal_wait(): idle until the next interrupt and take it here, in kernel mode -- the same three
# steps as in hal.s (wait with interrupts off, open the window, close it), as hypercalls.
hal_wait:
        li      a0, HC_IDLE
        hcall                           # the VM sleeps until the timer interrupt is pending
        li      a0, HC_CSR_WRITE
        li      a1, CSR_STATUS
        li      a2, KSTATUS | ST_IE
        hcall                           # interrupts on: the hypervisor delivers the pending
hal_idle_window:                        # interrupt here, before the next instruction
        li      a0, HC_CSR_WRITE
        li      a1, CSR_STATUS
        li      a2, KSTATUS
        hcall                           # interrupts off, PMODE = user and PIE = 1 again
        ret

# hal_putc(a0 = byte): console output, a line at a time. The byte goes into a buffer; a newline
# (or a full buffer) sends the whole buffer with one console_write hypercall. Every line the
# kernel prints ends with a newline, and hal_poweroff sends what is left, so the output is the
# same as hal.s's -- with one exit per line instead of one per byte.
hal_putc:
        la      t0, pv_con_len
        lw      t1, 0(t0)
        la      t2, pv_con_buf
        add     t2, t2, t1
        sb      a0, 0(t2)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        li      t2, '\n'
        beq     a0, t2, pv_con_flush    # tail call
        li      t2, PV_CON_SIZE
        bgeu    t1, t2, pv_con_flush    # tail call
        ret

# hal_poweroff(a0 = exit code): send the buffered output, then switch the VM off. Never returns.
hal_poweroff:
        mv      t3, a0                  # (pv_con_flush keeps t3)
        call    pv_con_flush
        mv      a0, t3
        # fall through

# hal_halt(a0 = exit code): stop without using anything but the hypercall (last resort of a
# panic; the buffered output is NOT sent: that code may be what is broken).
hal_halt:
        mv      a1, a0
hal_halt.again:
        li      a0, HC_POWEROFF
        hcall
        j       hal_halt.again          # not reached

# --------------------------------------------------------------------------------------------------
# Helpers (not part of the HAL interface).

# pv_con_flush(): send the console buffer with one hypercall and empty it. Changes a0..a2, t0.
pv_con_flush:
        la      t0, pv_con_len
        lw      a2, 0(t0)               # a2 = length
        beqz    a2, pv_con_flush.done
        sw      zero, 0(t0)
        la      a1, pv_con_buf          # a kernel address is a guest-physical one (1:1 map)
        li      a0, HC_CONSOLE_WRITE
        hcall
pv_con_flush.done:
        ret

# pv_csr_write2(a0 = csr, a1 = value, a2 = csr, a3 = value): two CSR writes in one batch
# hypercall (three words per call: number, argument 1, argument 2). Panics if one failed.
pv_csr_write2:
        la      t0, pv_batch
        li      t1, HC_CSR_WRITE
        sw      t1, 0(t0)               # call 1: csr_write(a0, a1)
        sw      a0, 4(t0)
        sw      a1, 8(t0)
        sw      t1, 12(t0)              # call 2: csr_write(a2, a3)
        sw      a2, 16(t0)
        sw      a3, 20(t0)
        mv      a1, t0
        li      a2, 2
        li      a0, HC_BATCH
        hcall                           # -> a0 = calls done
        li      t0, 2
        bne     a0, t0, pv_failed
        ret

# pv_failed: a hypercall that cannot fail in a correct kernel did. Never returns.
pv_failed:
        la      a0, s_pv_failed
        j       panic

s_pv_failed:    .asciz "a hypercall failed"
        .align  4

# --- the PV HAL's variables (kernel memory) --------------------------------------------------------
        .data
        .align  4
pv_batch:       .space  2 * 12          # the triples of pv_csr_write2
pv_con_len:     .word   0               # bytes in pv_con_buf
pv_con_buf:     .space  PV_CON_SIZE
        .text
