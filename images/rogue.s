# rogue.s -- a misbehaving program that tries to break out of the machine, and fails.
#
# It installs a trap handler, then makes one "attempt" after another: touching memory that does
# not exist, poking device registers the wrong way, running privileged instructions in user mode,
# executing words that are not instructions, misaligned accesses. Each attempt runs a small code
# snippet; the processor stops every bad one with a trap, and the handler prints what it caught
# (the cause and the tval CSR) and resumes with the next attempt:
#
#     read just past the end of RAM: caught access fault, tval=0x00400000
#
# Snippets that are harmless end with `syscall`, which the handler reports as "no trap". Every
# attempt states the trap it expects; anything else is printed as a SURPRISE and counted.
# The disk controller reports errors in its STATUS register instead of trapping; those lines
# print the status. Finally the program spins in a tight loop forever (SPIN=1, the default:
# a hypervisor must still be able to take the CPU back), or halts (SPIN=0) with the number of
# surprises as its exit code.
#
# The log depends on the machine: images/rogue.expected is for the default machine, 4 MiB of RAM
# (the end of RAM is 0x00400000), strict=True (so user-mode `csrr status` traps) and no disk (so
# the controller answers every valid command with status 4, "no disk"). With a disk attached the
# disk lines show "bad sector" and "bad address" instead.

        .include "lib/vl32.s"

        .default SPIN, 1                # 1: spin forever at the end; 0: halt

        .equ    KERNEL, 0               # run a snippet in kernel mode ...
        .equ    USER, 1                 # ... or in user mode
        .equ    NO_TRAP, CAUSE_SYSCALL  # "expect no trap": the snippet reaches its syscall

        .text
_start:
        la      t0, ram_top             # the loader put sp at the top of RAM: remember it
        sw      sp, 0(t0)
        la      t0, trap_handler        # from now on every trap goes to trap_handler
        csrw    tvec, t0
        la      a0, msg_hello
        call    puts

        la      a0, table_memory        # memory and device registers
        call    run_table
        call    disk_attempts           # the disk controller: errors show in STATUS
        la      a0, table_user          # privileged instructions in user mode
        call    run_table
        la      a0, table_bad           # words that are not valid instructions, misalignment
        call    run_table

        # --- summary ------------------------------------------------------------------------
        la      a0, msg_summary1        # "rogue: "
        call    puts
        la      t0, attempts
        lw      a0, 0(t0)
        call    put_dec
        la      a0, msg_summary2        # " attempts, "
        call    puts
        la      t0, surprises
        lw      a0, 0(t0)
        call    put_dec
        la      a0, msg_summary3        # " surprises\n"
        call    puts
.if SPIN
        la      a0, msg_spin
        call    puts
spin:
        j       spin                    # forever: only the machine's budget stops us now
.else
        la      a0, msg_halt
        call    puts
        la      t0, surprises
        lw      a0, 0(t0)               # exit code = number of surprises
        halt
.endif

# run_table(a0 = table): make every attempt in a table of 4-word rows
#     description, snippet, mode (KERNEL/USER), expected cause
# ended by a row whose description is 0.
run_table:
        addi    sp, sp, -8
        sw      ra, 4(sp)
        sw      s0, 0(sp)
        mv      s0, a0
run_table.row:
        lw      a3, 0(s0)               # description
        beqz    a3, run_table.done
        lw      a0, 4(s0)               # snippet
        lw      a2, 8(s0)               # mode
        lw      a1, 12(s0)              # expected cause
        call    attempt
        addi    s0, s0, 16
        j       run_table.row
run_table.done:
        lw      s0, 0(sp)
        lw      ra, 4(sp)
        addi    sp, sp, 8
        ret

# attempt(a0 = snippet, a1 = expected cause, a2 = KERNEL or USER, a3 = description)
# Prints "description: ", then runs the snippet in the requested mode. The snippet never returns
# by itself: it traps, and the trap handler comes back to attempt.back (in kernel mode).
attempt:
        addi    sp, sp, -16
        sw      ra, 12(sp)
        sw      s0, 8(sp)
        sw      s1, 4(sp)
        mv      s0, a0                  # s0 = snippet
        mv      s1, a2                  # s1 = mode
        la      t0, expected
        sw      a1, 0(t0)
        la      t0, attempts            # attempts += 1
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        mv      a0, a3
        call    puts
        la      a0, msg_colon           # ": "
        call    puts
        la      t0, saved_sp            # the handler continues on this stack
        sw      sp, 0(t0)
        # Enter the snippet the way a kernel starts a user program: put its address in epc and
        # the mode in status.PMODE, then eret ("return" from a trap that never happened).
        csrw    epc, s0
        li      t0, ST_PMODE
        csrs    status, t0              # PMODE = 1: kernel ...
        beqz    s1, attempt.go
        csrc    status, t0              # ... or PMODE = 0: user
attempt.go:
        eret
attempt.back:                           # the trap handler resumes here
        lw      s1, 4(sp)
        lw      s0, 8(sp)
        lw      ra, 12(sp)
        addi    sp, sp, 16
        ret

# trap_handler: the processor jumps here on every trap (tvec), in kernel mode, with
#   epc = the trapping instruction, cause = why, tval = the address or instruction word.
# It reports the trap and abandons the snippet: it resumes at attempt.back, in kernel mode.
trap_handler:
        la      t0, saved_sp
        lw      sp, 0(t0)               # a snippet may have wrecked sp: use the saved one
        csrr    s0, cause
        csrr    s1, tval
        li      t0, NO_TRAP
        bne     s0, t0, trap_handler.caught
        la      a0, msg_no_trap         # the snippet reached its syscall: nothing was stopped
        call    puts
        j       trap_handler.check
trap_handler.caught:
        la      a0, msg_caught          # "caught "
        call    puts
        li      t0, CAUSE_ACCESS_FAULT
        bgtu    s0, t0, trap_handler.number # an interrupt or unknown cause: print the number
        la      t0, cause_names         # the cause's name from the table
        slli    t1, s0, 2
        add     t0, t0, t1
        lw      a0, 0(t0)
        call    puts
        j       trap_handler.tval
trap_handler.number:
        la      a0, msg_cause           # "cause "
        call    puts
        mv      a0, s0
        call    put_hex
trap_handler.tval:
        la      a0, msg_tval            # ", tval="
        call    puts
        mv      a0, s1
        call    put_hex
        call    newline
trap_handler.check:
        la      t0, expected
        lw      t0, 0(t0)
        beq     s0, t0, trap_handler.resume
        la      t0, surprises           # not what this attempt expected
        lw      t1, 0(t0)
        addi    t1, t1, 1
        sw      t1, 0(t0)
        la      a0, msg_surprise
        call    puts
trap_handler.resume:
        la      t0, attempt.back
        csrw    epc, t0
        li      t0, ST_PMODE
        csrs    status, t0              # eret to kernel mode
        eret

# disk_attempts(): give the disk controller bad commands; it must refuse them and say why in its
# STATUS register, without touching memory.
disk_attempts:
        addi    sp, sp, -8
        sw      ra, 4(sp)
        sw      s0, 0(sp)
        li      s0, DISK_BASE
        la      a0, msg_disk_count      # "disk: "
        call    puts
        lw      a0, DSK_COUNT(s0)       # how many sectors (0: no disk attached)
        call    put_dec
        la      a0, msg_disk_sectors    # " sectors\n"
        call    puts
        # a command that does not exist
        li      t0, 7
        sw      t0, DSK_CMD(s0)
        la      a0, msg_disk_cmd
        call    disk_report
        # a sector far beyond the end of the disk
        li      t0, 0xFFFFFF00
        sw      t0, DSK_SECTOR(s0)
        la      t0, disk_buffer
        sw      t0, DSK_ADDR(s0)
        li      t0, 1                   # read
        sw      t0, DSK_CMD(s0)
        la      a0, msg_disk_sector
        call    disk_report
        # DMA into the first byte after RAM
        sw      zero, DSK_SECTOR(s0)
        la      t0, ram_top
        lw      t0, 0(t0)
        sw      t0, DSK_ADDR(s0)
        li      t0, 1                   # read
        sw      t0, DSK_CMD(s0)
        la      a0, msg_disk_past_ram
        call    disk_report
        # DMA out of the console's registers
        li      t0, CONSOLE_BASE
        sw      t0, DSK_ADDR(s0)
        li      t0, 2                   # write
        sw      t0, DSK_CMD(s0)
        la      a0, msg_disk_device
        call    disk_report
        # DMA into the middle of our own program, at an address that is not sector aligned
        la      t0, _start
        addi    t0, t0, 4
        sw      t0, DSK_ADDR(s0)
        li      t0, 1                   # read
        sw      t0, DSK_CMD(s0)
        la      a0, msg_disk_unaligned
        call    disk_report
        lw      s0, 0(sp)
        lw      ra, 4(sp)
        addi    sp, sp, 8
        ret

# disk_report(a0 = description): print "description: disk status N (name)".
disk_report:
        addi    sp, sp, -8
        sw      ra, 4(sp)
        sw      s0, 0(sp)
        li      t0, DISK_BASE
        lw      s0, DSK_STATUS(t0)
        call    puts
        la      a0, msg_disk_status     # ": disk status "
        call    puts
        mv      a0, s0
        call    put_dec
        li      t0, 4
        bgtu    s0, t0, disk_report.end # no name for other values
        li      a0, ' '
        call    putc
        la      t0, disk_status_names
        slli    t1, s0, 2
        add     t0, t0, t1
        lw      a0, 0(t0)
        call    puts
disk_report.end:
        call    newline
        lw      s0, 0(sp)
        lw      ra, 4(sp)
        addi    sp, sp, 8
        ret

# --- the snippets -----------------------------------------------------------------------------
# Each one tries one thing. If that thing traps, the handler takes over; if not, the snippet
# reaches `syscall`, which the handler reports as "no trap".

snip_ram_last:                          # read the last word of RAM: allowed
        la      t0, ram_top
        lw      t0, 0(t0)
        lw      t1, -4(t0)
        syscall
snip_ram_end:                           # read the first word after RAM
        la      t0, ram_top
        lw      t0, 0(t0)
        lw      t1, 0(t0)
        syscall
snip_far_write:                         # write far away from RAM
        li      t0, 0x80000000
        li      t1, 0x0BADC0DE
        sw      t1, 0(t0)
        syscall
snip_far_jump:                          # jump to an address with no memory
        li      t0, 0x40000000
        jr      t0
snip_byte_tx:                           # device registers are words: a byte store is refused
        li      t0, CONSOLE_BASE
        li      t1, '!'
        sb      t1, CON_TX(t0)
        syscall
snip_con_unused:                        # an offset where the console has no register
        li      t0, CONSOLE_BASE + 0x100
        li      t1, 0x5A5A5A5A
        sw      t1, 0(t0)
        syscall
snip_no_device:                         # just past the last device
        li      t0, POWER_BASE + 0x1000
        li      t1, 0x5A5A5A5A
        sw      t1, 0(t0)
        syscall
snip_disk_unused:                       # read a disk register that does not exist
        li      t0, DISK_BASE + 0x18
        lw      t1, 0(t0)
        syscall
snip_power_garbage:                     # garbage into the power controller: ignored
        li      t0, POWER_BASE
        li      t1, 0xDEAD
        sw      t1, PWR_CTRL(t0)
        syscall
snip_timer_garbage:                     # the cycle counter is read-only: writes are ignored
        li      t0, TIMER_BASE
        li      t1, -1
        sw      t1, 0(t0)
        syscall
snip_fetch_device:                      # execute the console's registers
        li      t0, CONSOLE_BASE
        jr      t0

snip_user_csrw:                         # user mode: redirect the traps
        csrw    tvec, zero
        syscall
snip_user_csrr:                         # user mode: peek at status (sensitive: traps if strict)
        csrr    t0, status
        syscall
snip_user_halt:                         # user mode: stop the machine
        halt
        syscall
snip_user_wfi:                          # user mode: sleep
        wfi
        syscall
snip_user_tlbflush:                     # user mode: flush the TLB
        tlbflush
        syscall
snip_user_eret:                         # user mode: fake a return from a trap
        eret
        syscall
snip_user_device:                       # user mode, paging off: nothing protects the devices
        li      t0, CONSOLE_BASE
        sw      zero, CON_CTRL(t0)
        syscall

snip_illegal:                           # not an instruction at all
        .word   0xFFFFFFFF
        syscall
snip_reserved:                          # `add zero, zero, zero` with a reserved bit (20) set
        .word   0x00100001
        syscall
snip_cycle:                             # write a read-only CSR
        csrw    cycle, zero
        syscall
snip_hcall:                             # a hypercall with no hypervisor underneath
        hcall
        syscall
snip_misaligned_load:
        lw      t0, 0x1002(zero)
        syscall
snip_misaligned_store:
        sw      zero, 0x1001(zero)
        syscall
snip_misaligned_jump:
        li      t0, 0x1002
        jr      t0

# --- data -------------------------------------------------------------------------------------
        .data
        .align  4
ram_top:    .word 0                     # first address after RAM
saved_sp:   .word 0                     # the stack pointer of the current attempt
expected:   .word 0                     # the cause the current attempt expects
attempts:   .word 0
surprises:  .word 0

# rows: description, snippet, mode, expected cause (see run_table)
table_memory:
        .word   d_ram_last,       snip_ram_last,       KERNEL, NO_TRAP
        .word   d_ram_end,        snip_ram_end,        KERNEL, CAUSE_ACCESS_FAULT
        .word   d_far_write,      snip_far_write,      KERNEL, CAUSE_ACCESS_FAULT
        .word   d_far_jump,       snip_far_jump,       KERNEL, CAUSE_ACCESS_FAULT
        .word   d_byte_tx,        snip_byte_tx,        KERNEL, CAUSE_ACCESS_FAULT
        .word   d_con_unused,     snip_con_unused,     KERNEL, CAUSE_ACCESS_FAULT
        .word   d_no_device,      snip_no_device,      KERNEL, CAUSE_ACCESS_FAULT
        .word   d_disk_unused,    snip_disk_unused,    KERNEL, CAUSE_ACCESS_FAULT
        .word   d_power_garbage,  snip_power_garbage,  KERNEL, NO_TRAP
        .word   d_timer_garbage,  snip_timer_garbage,  KERNEL, NO_TRAP
        .word   d_fetch_device,   snip_fetch_device,   KERNEL, CAUSE_ACCESS_FAULT
        .word   0
table_user:
        .word   d_user_csrw,      snip_user_csrw,      USER,   CAUSE_PRIVILEGED
        .word   d_user_csrr,      snip_user_csrr,      USER,   CAUSE_PRIVILEGED
        .word   d_user_halt,      snip_user_halt,      USER,   CAUSE_PRIVILEGED
        .word   d_user_wfi,       snip_user_wfi,       USER,   CAUSE_PRIVILEGED
        .word   d_user_tlbflush,  snip_user_tlbflush,  USER,   CAUSE_PRIVILEGED
        .word   d_user_eret,      snip_user_eret,      USER,   CAUSE_PRIVILEGED
        .word   d_user_device,    snip_user_device,    USER,   NO_TRAP
        .word   0
table_bad:
        .word   d_illegal,        snip_illegal,        KERNEL, CAUSE_ILLEGAL
        .word   d_reserved,       snip_reserved,       KERNEL, CAUSE_ILLEGAL
        .word   d_cycle,          snip_cycle,          KERNEL, CAUSE_ILLEGAL
        .word   d_hcall,          snip_hcall,          KERNEL, CAUSE_ILLEGAL
        .word   d_misaligned_load,  snip_misaligned_load,  KERNEL, CAUSE_MISALIGNED_LOAD
        .word   d_misaligned_store, snip_misaligned_store, KERNEL, CAUSE_MISALIGNED_STORE
        .word   d_misaligned_jump,  snip_misaligned_jump,  KERNEL, CAUSE_MISALIGNED_FETCH
        .word   0

cause_names:                            # indexed by cause code (docs/machine.md)
        .word   c_0, c_illegal, c_privileged, c_mis_fetch, c_mis_load, c_mis_store
        .word   c_pf_fetch, c_pf_load, c_pf_store, c_syscall, c_breakpoint, c_access
disk_status_names:                      # indexed by disk STATUS
        .word   s_ok, s_bad_sector, s_bad_addr, s_bad_cmd, s_no_disk

c_0:            .asciz "cause 0"
c_illegal:      .asciz "illegal instruction"
c_privileged:   .asciz "privileged instruction"
c_mis_fetch:    .asciz "misaligned fetch"
c_mis_load:     .asciz "misaligned load"
c_mis_store:    .asciz "misaligned store"
c_pf_fetch:     .asciz "fetch page fault"
c_pf_load:      .asciz "load page fault"
c_pf_store:     .asciz "store page fault"
c_syscall:      .asciz "syscall"
c_breakpoint:   .asciz "breakpoint"
c_access:       .asciz "access fault"

s_ok:           .asciz "(ok)"
s_bad_sector:   .asciz "(bad sector)"
s_bad_addr:     .asciz "(bad address)"
s_bad_cmd:      .asciz "(bad command)"
s_no_disk:      .asciz "(no disk)"

d_ram_last:         .asciz "read the last word of RAM"
d_ram_end:          .asciz "read just past the end of RAM"
d_far_write:        .asciz "write far beyond RAM"
d_far_jump:         .asciz "jump to an address with no memory"
d_byte_tx:          .asciz "byte store to the console TX register"
d_con_unused:       .asciz "write an unused console offset"
d_no_device:        .asciz "write past the last device"
d_disk_unused:      .asciz "read an unused disk offset"
d_power_garbage:    .asciz "write garbage to the power controller"
d_timer_garbage:    .asciz "write the read-only timer counter"
d_fetch_device:     .asciz "execute device registers"
d_user_csrw:        .asciz "user mode: csrw tvec"
d_user_csrr:        .asciz "user mode: csrr status"
d_user_halt:        .asciz "user mode: halt"
d_user_wfi:         .asciz "user mode: wfi"
d_user_tlbflush:    .asciz "user mode: tlbflush"
d_user_eret:        .asciz "user mode: eret"
d_user_device:      .asciz "user mode: write a device register (paging is off)"
d_illegal:          .asciz "execute the word 0xffffffff"
d_reserved:         .asciz "execute add with a reserved bit set"
d_cycle:            .asciz "write the read-only cycle CSR"
d_hcall:            .asciz "hcall without a hypervisor"
d_misaligned_load:  .asciz "load a word from 0x1002"
d_misaligned_store: .asciz "store a word to 0x1001"
d_misaligned_jump:  .asciz "jump to 0x1002"

msg_hello:          .asciz "rogue: trying to break out of the machine\n"
msg_colon:          .asciz ": "
msg_caught:         .asciz "caught "
msg_no_trap:        .asciz "no trap\n"
msg_cause:          .asciz "cause "
msg_tval:           .asciz ", tval="
msg_surprise:       .asciz "  ^ SURPRISE: not what this attempt expected\n"
msg_disk_count:     .asciz "disk: "
msg_disk_sectors:   .asciz " sectors\n"
msg_disk_cmd:       .asciz "disk command 7"
msg_disk_sector:    .asciz "disk read of sector 0xffffff00"
msg_disk_past_ram:  .asciz "disk read into the first byte after RAM"
msg_disk_device:    .asciz "disk write from the console's registers"
msg_disk_unaligned: .asciz "disk read into the middle of this program"
msg_disk_status:    .asciz ": disk status "
msg_summary1:       .asciz "rogue: "
msg_summary2:       .asciz " attempts, "
msg_summary3:       .asciz " surprises\n"
msg_spin:           .asciz "rogue: the machine held; spinning forever\n"
msg_halt:           .asciz "rogue: the machine held; halting\n"

        .align  512
disk_buffer:
        .space  512                     # a legitimate buffer (never filled: every command fails)

        .include "lib/console.s"
