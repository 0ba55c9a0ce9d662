# rogue_vm.s -- a malicious guest that asks the hypervisor to print memory that is not its own.
#
# The console-write hypercall (hcall with a0 = HC_CONSOLE_WRITE, a1 = guest-physical buffer,
# a2 = length; vmlab/hypervisor/hypercalls.py) copies a buffer of the guest's RAM to its console.
# A correct hypervisor checks that the buffer lies inside the calling VM's RAM and returns an
# error (a0 < 0) otherwise. This guest:
#
#   1. prints its banner with a legitimate console-write hypercall (a buffer in its own RAM);
#   2. naps for NAP cycles (timer + idle hypercalls), so that its neighbours run and store data;
#   3. probes PAGES pages beyond the end of its own RAM: for each it prints "probe 0x...: " and
#      asks the hypervisor to print WINDOW bytes from the start of that page. Whatever comes back
#      lands on its console right there (raw bytes); a refusal prints "refused (error -2)";
#   4. prints how many probes were answered and halts with that number as its exit code.
#
# With the safe hypervisor (the default) every probe is refused and the exit code is 0:
#
#     rogue_vm: asking the hypervisor for memory beyond my RAM (0x00010000)
#     probe 0x00010000: refused (error -2)
#     ...
#     rogue_vm: 0 of 32 probes answered
#
# With Hypervisor(UNSAFE_unchecked_hypercall_buffers=True) the hypervisor reads host memory past
# this VM's first frame, so a neighbour created after this VM (higher host frames) leaks:
#
#     probe 0x00012000: TOP-SECRET:c0ffee42
#
# It needs a hypervisor: on bare metal `hcall` is an illegal instruction.

        .include "lib/vl32.s"

        .equ    HC_IDLE, 4              # vmlab/hypervisor/hypercalls.py
        .equ    HC_CONSOLE_WRITE, 7
        .equ    HC_SET_TIMER, 8
        .equ    HC_CSR_SET, 10
        .equ    HC_CSR_CLEAR, 11
        .equ    CSR_IE, 7
        .equ    IE_TIMER, 1

        .default NAP, 1000000           # cycles to wait before probing (0: no nap)
        .default PAGES, 32              # pages probed beyond the end of RAM
        .default WINDOW, 48             # bytes asked for at the start of each page
        .default STRIDE, 4096           # bytes from one probe to the next

        .text
_start:
        mv      s0, sp                  # the loader put sp at the top of RAM: the first probe
        la      a1, banner              # 1. a legitimate hypercall: our own buffer
        li      a2, banner_end - banner
        li      a0, HC_CONSOLE_WRITE
        hcall
        mv      a0, s0
        call    put_hex
        la      a0, msg_paren           # ")\n"
        call    puts

.if NAP
        li      a0, HC_CSR_SET          # 2. nap: enable the timer line (status.IE stays clear,
        li      a1, CSR_IE              #    so no trap handler is needed) ...
        li      a2, IE_TIMER
        hcall
        li      a0, HC_SET_TIMER        # ... arm it NAP cycles from now ...
        li      a1, NAP
        hcall
        li      a0, HC_IDLE             # ... and wait for it
        hcall
        li      a0, HC_CSR_CLEAR
        li      a1, CSR_IE
        li      a2, IE_TIMER
        hcall
.endif

        li      s1, PAGES               # 3. probe: s0 = address, s1 = probes left,
        li      s2, 0                   #    s2 = probes answered
probe:
        la      a0, msg_probe           # "probe "
        call    puts
        mv      a0, s0
        call    put_hex
        la      a0, msg_colon           # ": "
        call    puts
        li      a0, HC_CONSOLE_WRITE
        mv      a1, s0
        li      a2, WINDOW
        hcall                           # a0 = bytes printed, or a negative error
        bltz    a0, refused
        addi    s2, s2, 1
        call    newline
        j       next
refused:
        mv      s3, a0
        la      a0, msg_refused         # "refused (error "
        call    puts
        mv      a0, s3
        call    put_int
        la      a0, msg_paren           # ")\n"
        call    puts
next:
        li      t0, STRIDE
        add     s0, s0, t0
        addi    s1, s1, -1
        bnez    s1, probe

        la      a0, msg_summary1        # 4. "rogue_vm: "
        call    puts
        mv      a0, s2
        call    put_dec
        la      a0, msg_summary2        # " of "
        call    puts
        li      a0, PAGES
        call    put_dec
        la      a0, msg_summary3        # " probes answered\n"
        call    puts
        mv      a0, s2                  # exit code: how many probes leaked something
        halt

        .include "lib/console.s"

        .data
banner:         .ascii "rogue_vm: asking the hypervisor for memory beyond my RAM ("
banner_end:
msg_paren:      .asciz ")\n"
msg_probe:      .asciz "probe "
msg_colon:      .asciz ": "
msg_refused:    .asciz "refused (error "
msg_summary1:   .asciz "rogue_vm: "
msg_summary2:   .asciz " of "
msg_summary3:   .asciz " probes answered\n"
