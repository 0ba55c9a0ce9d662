# secret.s -- a well-behaved guest that keeps a secret in its RAM (the victim of the security lab).
#
# It builds the text "TOP-SECRET:" followed by KEY as 8 hex digits (default "TOP-SECRET:c0ffee42")
# at run time in `vault`, the first bytes of its .data section (a page boundary, 0x2000), says
# where it put it (never what it is), and then waits for an interrupt that never comes (`wfi`;
# SPIN=1 spins instead). The secret exists only in this guest's RAM: the value is not in the
# image as text, and the program never prints it. If it shows up anywhere else, it leaked.
#
#     secret: my secret is at 0x00002000 (and I will not print it)
#     secret: stored; idling
#
# Run it beside images/rogue_vm.s: with the default (safe) hypervisor the rogue gets nothing;
# with Hypervisor(UNSAFE_unchecked_hypercall_buffers=True) the rogue prints this secret.

        .include "lib/vl32.s"

        .default KEY, 0xC0FFEE42        # the secret value
        .default SPIN, 0                # 0: idle with wfi at the end; 1: spin forever

        .text
_start:
        la      a0, msg_where           # "secret: my secret is at "
        call    puts
        la      a0, vault
        call    put_hex
        la      a0, msg_quiet           # " (and I will not print it)\n"
        call    puts

        la      a0, vault               # vault = "TOP-SECRET:" ...
        la      a1, prefix
copy:
        lbu     t0, 0(a1)
        beqz    t0, copied
        sb      t0, 0(a0)
        addi    a0, a0, 1
        addi    a1, a1, 1
        j       copy
copied:
        li      a1, KEY                 # ... + KEY as 8 lowercase hex digits ...
        li      t2, 28                  # shift that brings the top nibble down
digit:
        srl     t1, a1, t2
        andi    t1, t1, 0xF
        slti    t3, t1, 10
        addi    t1, t1, '0'
        bnez    t3, put_digit
        addi    t1, t1, 'a' - '0' - 10
put_digit:
        sb      t1, 0(a0)
        addi    a0, a0, 1
        addi    t2, t2, -4
        bgez    t2, digit
        sb      zero, 0(a0)             # ... + NUL

        la      a0, msg_stored
        call    puts
.if SPIN
spin:
        j       spin
.else
idle:
        wfi                             # no interrupt is enabled: this waits forever
        j       idle
.endif

        .include "lib/console.s"

        .data
vault:                                  # the secret lives here (.data starts on a page)
        .space  64
prefix:         .asciz "TOP-SECRET:"
msg_where:      .asciz "secret: my secret is at "
msg_quiet:      .asciz " (and I will not print it)\n"
msg_stored:     .asciz "secret: stored; idling\n"
