# lib/console.s -- print characters, strings and numbers on the console UART.
#
# Include it once, after your own code:   .include "lib/console.s"
# It needs the constants of lib/vl32.s (include that first, at the top of the program).
#
# The console needs no polling: a word written to CONSOLE_BASE + CON_TX sends its low byte at once.
# Device registers must be accessed with whole words (lw/sw); a byte store to a device is an
# access fault.
#
# Calling convention (docs/machine.md): the argument is in a0. Every routine here is a leaf: it
# may change a0..a3 and t0..t3, and keeps ra, sp, gp and s0..s3.

        .text

# putc(a0 = character): send one byte.
putc:
        li      t0, CONSOLE_BASE
        sw      a0, CON_TX(t0)
        ret

# newline(): send '\n'.
newline:
        li      t0, CONSOLE_BASE
        li      t1, '\n'
        sw      t1, CON_TX(t0)
        ret

# puts(a0 = address of a NUL-terminated string): send every byte up to the NUL.
puts:
        li      t0, CONSOLE_BASE
puts.loop:
        lbu     t1, 0(a0)               # next character
        beqz    t1, puts.done           # NUL ends the string
        sw      t1, CON_TX(t0)
        addi    a0, a0, 1
        j       puts.loop
puts.done:
        ret

# put_dec(a0 = unsigned number): print it in decimal, e.g. 78498.
put_dec:
        addi    sp, sp, -16             # a buffer on the stack: 10 digits at most (4294967295)
        addi    t1, sp, 16              # t1 walks backwards from the end of the buffer
        li      t2, 10
put_dec.digit:
        remu    t3, a0, t2              # lowest digit ...
        divu    a0, a0, t2              # ... and what is left
        addi    t3, t3, '0'
        addi    t1, t1, -1
        sb      t3, 0(t1)
        bnez    a0, put_dec.digit       # at least one digit, so 0 prints as "0"
        li      t0, CONSOLE_BASE
        addi    t2, sp, 16              # end of the buffer
put_dec.send:
        lbu     t3, 0(t1)               # digits come out most significant first
        sw      t3, CON_TX(t0)
        addi    t1, t1, 1
        bne     t1, t2, put_dec.send
        addi    sp, sp, 16
        ret

# put_int(a0 = signed number): print it in decimal with a '-' when negative.
put_int:
        bgez    a0, put_dec             # not negative: same as unsigned
        li      t0, CONSOLE_BASE
        li      t1, '-'
        sw      t1, CON_TX(t0)
        neg     a0, a0                  # -(-2147483648) is 2147483648 again as unsigned: fine
        j       put_dec

# put_hex(a0 = number): print it as 0x and 8 hex digits, e.g. 0xcbf43926.
put_hex:
        li      t0, CONSOLE_BASE
        li      t1, '0'
        sw      t1, CON_TX(t0)
        li      t1, 'x'
        sw      t1, CON_TX(t0)
        li      t2, 28                  # shift that brings the top nibble down
put_hex.digit:
        srl     t1, a0, t2
        andi    t1, t1, 0xF             # one nibble, 0..15
        slti    t3, t1, 10              # t3 = 1 for 0..9, 0 for a..f
        addi    t1, t1, '0'
        bnez    t3, put_hex.send
        addi    t1, t1, 'a' - '0' - 10  # 10..15 -> 'a'..'f'
put_hex.send:
        sw      t1, CON_TX(t0)
        addi    t2, t2, -4
        bgez    t2, put_hex.digit
        ret
