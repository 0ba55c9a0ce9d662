# echo.s -- a line-at-a-time console: read what is typed, say it back in capitals, quit on "quit".
#
# What it shows:
#   * console input is a read of the RX register, which gives the next byte typed, or 0xFFFFFFFF
#     when nothing is waiting (feed it with `Machine.console.feed` or `VM.feed`);
#   * waiting politely: with nothing to read the program sleeps in `wfi` instead of spinning. It
#     enables the console's input interrupt line (CON_CTRL bit 0, and the console bit in `ie`) but
#     leaves status.IE at 0, so an arriving byte ends the `wfi` without any trap being taken: no
#     trap handler is needed. Until then the program costs no CPU: on bare metal `run()` returns
#     "idle" (call it again after feeding), and in a VM the hypervisor runs other VMs meanwhile;
#   * powering off with an exit code through the power controller.
#
# Each byte is echoed as it is typed (a terminal would show it too); '\r' is ignored, so "\r\n"
# works. At the end of a line the program prints the line in upper case, or powers off with exit
# code 0 if the line is exactly "quit". An empty line just prompts again. Lines longer than LINE
# bytes are cut to their first LINE bytes. Fed "hello\nquit\n", it prints:
#
#     echo: type a line; "quit" powers off
#     > hello
#     HELLO
#     > quit
#     bye
#
# With no input at all it prints the banner and the first "> " and waits.

        .include "lib/vl32.s"

        .default LINE, 80               # longest line kept (longer lines are cut)
.if LINE < 4 || LINE > 0x100000
        .error "LINE must be 4..0x100000: a shorter line could never hold \"quit\""
.endif

        .equ IRQ_CONSOLE_BIT, 0x2       # the console's bit in the ie/ip CSRs (line 1)

        .text
_start:
        li      s0, CONSOLE_BASE        # s0 = the console, for the whole program
        li      t0, 1
        sw      t0, CON_CTRL(s0)        # the console raises its input line while input waits ...
        li      t0, IRQ_CONSOLE_BIT
        csrw    ie, t0                  # ... and that line may end a wfi (status.IE stays 0)
        la      a0, msg_banner
        call    puts

prompt:
        la      a0, msg_prompt          # "> "
        call    puts
        li      s1, 0                   # s1 = bytes of the line kept so far

next_byte:
        lw      t0, CON_RX(s0)          # the next byte typed, or 0xFFFFFFFF (-1) if none
        bgez    t0, got_byte
        wfi                             # nothing yet: sleep until input arrives
        j       next_byte

got_byte:
        li      t1, '\r'
        beq     t0, t1, next_byte       # ignore carriage returns
        sw      t0, CON_TX(s0)          # echo it, as a terminal would
        li      t1, '\n'
        beq     t0, t1, end_of_line
        li      t1, LINE
        bgeu    s1, t1, next_byte       # the line is full: drop the byte
        la      t1, line
        add     t1, t1, s1
        sb      t0, 0(t1)               # line[s1] = byte
        addi    s1, s1, 1
        j       next_byte

end_of_line:
        beqz    s1, prompt              # an empty line: nothing to say
        la      t1, line
        add     t1, t1, s1
        sb      zero, 0(t1)             # NUL-terminate the line
        la      a0, line
        la      a1, word_quit
        call    streq
        bnez    a0, quit
        la      a0, line
        call    upcase
        la      a0, line
        call    puts
        call    newline
        j       prompt

quit:
        la      a0, msg_bye
        call    puts
        li      t0, POWER_BASE
        sw      zero, PWR_EXIT_CODE(t0) # exit code 0
        li      t1, 1                   # CTRL: 1 = power off
        sw      t1, PWR_CTRL(t0)
        j       quit                    # not reached: the power is off

# streq(a0 = string, a1 = string) -> a0 = 1 if both NUL-terminated strings are equal, else 0.
streq:
        lbu     t0, 0(a0)
        lbu     t1, 0(a1)
        bne     t0, t1, streq.differ
        beqz    t0, streq.same          # both ended together
        addi    a0, a0, 1
        addi    a1, a1, 1
        j       streq
streq.same:
        li      a0, 1
        ret
streq.differ:
        li      a0, 0
        ret

# upcase(a0 = string): turn 'a'..'z' into 'A'..'Z' in place, up to the NUL.
upcase:
        li      t2, 'z' - 'a'
upcase.loop:
        lbu     t0, 0(a0)
        beqz    t0, upcase.done
        addi    t1, t0, -'a'            # t1 = 0..25 for a lower-case letter
        bgtu    t1, t2, upcase.next     # anything else (unsigned: below 'a' wraps round) stays
        addi    t0, t0, 'A' - 'a'
        sb      t0, 0(a0)
upcase.next:
        addi    a0, a0, 1
        j       upcase.loop
upcase.done:
        ret

        .data
msg_banner: .asciz "echo: type a line; \"quit\" powers off\n"
msg_prompt: .asciz "> "
msg_bye:    .asciz "bye\n"
word_quit:  .asciz "quit"
line:       .space LINE + 1             # the line being typed, NUL-terminated

        .include "lib/console.s"
