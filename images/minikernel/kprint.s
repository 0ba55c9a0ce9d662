# minikernel/kprint.s -- console output for the kernel: characters, strings, numbers.
#
# Everything goes through hal_putc (the console is a device: only the HAL touches it). The kernel
# runs with interrupts off, so a line printed by the kernel is never cut by another process.
# Calling convention: arguments in a0 (a1); a0..a3 and t0..t3 may change; s0..s3 are kept.

        .text

# kputc(a0 = byte)
kputc:
        j       hal_putc                # (tail call)

# kputnl(): end the line.
kputnl:
        li      a0, '\n'
        j       hal_putc

# kputs(a0 = NUL-terminated string)
kputs:
        li      a1, 0                   # no padding
        # fall through

# kputs_w(a0 = string, a1 = width): the string, then spaces up to `width` characters.
kputs_w:
        addi    sp, sp, -12
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        mv      s0, a0                  # s0 = next character
        mv      s1, a1                  # s1 = columns still to fill
kputs_w.char:
        lbu     a0, 0(s0)
        beqz    a0, kputs_w.pad
        call    hal_putc
        addi    s0, s0, 1
        addi    s1, s1, -1
        j       kputs_w.char
kputs_w.pad:
        blez    s1, kputs_w.done
        li      a0, ' '
        call    hal_putc
        addi    s1, s1, -1
        j       kputs_w.pad
kputs_w.done:
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        addi    sp, sp, 12
        ret

# kputdec(a0 = unsigned number): in decimal.
kputdec:
        li      a1, 0
        # fall through

# kputdec_w(a0 = unsigned number, a1 = width): in decimal, right-aligned in `width` columns.
kputdec_w:
        addi    sp, sp, -32
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        addi    s0, sp, 31              # the digits go backwards into sp+12 .. sp+30,
        sb      zero, 0(s0)             # ended by a NUL at sp+31
        li      t2, 10
kputdec_w.digit:
        remu    t3, a0, t2              # lowest digit ...
        divu    a0, a0, t2              # ... and the rest
        addi    t3, t3, '0'
        addi    s0, s0, -1
        sb      t3, 0(s0)
        bnez    a0, kputdec_w.digit     # at least one digit: 0 prints as "0"
        addi    t0, sp, 31
        sub     t0, t0, s0              # number of digits
        sub     s1, a1, t0              # s1 = spaces in front
kputdec_w.pad:
        blez    s1, kputdec_w.print
        li      a0, ' '
        call    hal_putc
        addi    s1, s1, -1
        j       kputdec_w.pad
kputdec_w.print:
        mv      a0, s0
        call    kputs
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        addi    sp, sp, 32
        ret

# kputint(a0 = signed number): in decimal, with a '-' when negative.
kputint:
        bgez    a0, kputdec
        addi    sp, sp, -8
        sw      ra, 0(sp)
        sw      a0, 4(sp)
        li      a0, '-'
        call    hal_putc
        lw      a0, 4(sp)
        neg     a0, a0
        lw      ra, 0(sp)
        addi    sp, sp, 8
        j       kputdec

# kputhex(a0 = number): as 0x and 8 hex digits, e.g. 0x00400000.
kputhex:
        addi    sp, sp, -12
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        mv      s0, a0                  # s0 = the number
        li      a0, '0'
        call    hal_putc
        li      a0, 'x'
        call    hal_putc
        li      s1, 28                  # s1 = shift that brings the next nibble down
kputhex.digit:
        srl     a0, s0, s1
        andi    a0, a0, 0xF
        slti    t0, a0, 10
        addi    a0, a0, '0'
        bnez    t0, kputhex.send
        addi    a0, a0, 'a' - '0' - 10  # 10..15 -> 'a'..'f'
kputhex.send:
        call    hal_putc
        addi    s1, s1, -4
        bgez    s1, kputhex.digit
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        addi    sp, sp, 12
        ret
