# hello.s -- the smallest useful VL32 program: print a greeting and stop.
#
# What it shows:
#   * a program starts at the label _start (the loader sets pc there and sp to the top of RAM);
#   * printing is a word store to the console's TX register (lib/console.s wraps that up);
#   * `halt` stops the machine; the exit code is whatever is in a0 (0 = success).

        .include "lib/vl32.s"

        .text
_start:
        la      a0, greeting            # a0 = address of the string (la is lui + addi)
        call    puts                    # print it (puts is in lib/console.s)
        la      a0, farewell
        call    puts
        li      a0, 0                   # exit code 0: success
        halt

        .data
greeting:
        .asciz  "Hello, world! This is a VL32 machine.\n"
farewell:
        .asciz  "OK\n"

        .include "lib/console.s"
