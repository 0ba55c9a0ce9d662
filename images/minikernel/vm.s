# minikernel/vm.s -- physical frames, page tables and user-pointer checks.
#
# Page tables (docs/machine.md "Paging"): a level-1 table of 1024 words indexed by VA[31:22];
# an entry with V and no R/W/X points to a level-2 table (1024 words indexed by VA[21:12]);
# an entry with R/W/X maps a whole 4 MiB superpage. A leaf PTE is frame | U X W R V.
#
# The kernel never needs to translate its own addresses: it maps RAM 1:1 (virtual = physical),
# so a physical address such as a page table's or a frame's can be used directly as a pointer.
# This mapping has no U bit: user mode cannot touch it, kernel mode can use it in every process.

        .text

        .equ    DEV_L1_OFFSET, (CONSOLE_BASE >> 22) * 4     # byte offset of the devices' L1 entry

# frame_alloc() -> a0 = physical address of a fresh, zeroed 4 KiB frame.
# A bump allocator: frames are handed out in order from the end of the kernel up to frame_limit
# (the end of RAM, at most MEM_TOP) and never given back (processes only exist for one run).
frame_alloc:
        la      t0, free_frame
        lw      a0, 0(t0)
        la      t1, frame_limit
        lw      t1, 0(t1)
        addi    t2, a0, PAGE_SIZE       # t2 = end of the frame
        bltu    t1, t2, frame_alloc.oom # it would end beyond the limit
        sw      t2, 0(t0)               # free_frame += 4096
        mv      t0, a0                  # zero it, 8 words per round
frame_alloc.zero:
        sw      zero, 0(t0)
        sw      zero, 4(t0)
        sw      zero, 8(t0)
        sw      zero, 12(t0)
        sw      zero, 16(t0)
        sw      zero, 20(t0)
        sw      zero, 24(t0)
        sw      zero, 28(t0)
        addi    t0, t0, 32
        bltu    t0, t2, frame_alloc.zero
        ret
frame_alloc.oom:
        la      a0, s_oom               # "out of physical memory"
        j       panic

# vm_init() -> a0 = the kernel's level-1 table (also stored in kernel_l1).
# Builds the mappings that every address space shares:
#   VA 0x00000000-0x003FFFFF -> RAM 1:1, one superpage, kernel-only, R W X
#   VA 0xF0000000-0xF0003FFF -> the four device pages 1:1, kernel-only, R W (not executable)
vm_init:
        addi    sp, sp, -12
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        la      t0, kernel_end          # the first free frame is the page after the kernel
        addi    t0, t0, PAGE_SIZE - 1
        srli    t0, t0, 12
        slli    t0, t0, 12
        la      t1, free_frame
        sw      t0, 0(t1)
        la      t0, ram_top             # frames must be in RAM and in the RAM superpage
        lw      t0, 0(t0)
        li      t1, MEM_TOP
        bltu    t0, t1, vm_init.limit
        mv      t0, t1
vm_init.limit:
        srli    t0, t0, 12
        slli    t0, t0, 12
        la      t1, frame_limit
        sw      t0, 0(t1)               # frame_limit = min(RAM size, MEM_TOP), whole pages

        call    frame_alloc
        mv      s0, a0                  # s0 = level-1 table
        call    frame_alloc
        mv      s1, a0                  # s1 = level-2 table for the devices

        li      t0, RAM_BASE | PTE_V | PTE_R | PTE_W | PTE_X   # superpage: no level 2 needed
        sw      t0, 0(s0)               # entry 0 = VA 0x00000000-0x003FFFFF
        ori     t0, s1, PTE_V           # V without R/W/X: "the next level is at s1"
        sw      t0, DEV_L1_OFFSET(s0)   # entry 0x3C0 = VA 0xF0000000-0xF03FFFFF
        li      t0, CONSOLE_BASE | PTE_V | PTE_R | PTE_W
        sw      t0, 0(s1)               # 0xF0000000 console
        li      t0, TIMER_BASE | PTE_V | PTE_R | PTE_W
        sw      t0, 4(s1)               # 0xF0001000 timer
        li      t0, DISK_BASE | PTE_V | PTE_R | PTE_W
        sw      t0, 8(s1)               # 0xF0002000 disk
        li      t0, POWER_BASE | PTE_V | PTE_R | PTE_W
        sw      t0, 12(s1)              # 0xF0003000 power

        la      t0, kernel_l1
        sw      s0, 0(t0)
        mv      a0, s0
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        addi    sp, sp, 12
        ret

# vm_new_space() -> a0 = a new level-1 table that holds the kernel's mappings and nothing else.
# The kernel's two level-1 entries (RAM and devices, see vm_init) are copied, so the kernel's
# mappings -- and its device level-2 table -- are shared by every address space: the kernel looks
# the same whichever process is running.
vm_new_space:
        addi    sp, sp, -4
        sw      ra, 0(sp)
        call    frame_alloc             # a0 = the new table (zeroed: nothing else is mapped)
        la      t0, kernel_l1
        lw      t0, 0(t0)
        lw      t1, 0(t0)               # RAM superpage
        sw      t1, 0(a0)
        lw      t1, DEV_L1_OFFSET(t0)   # devices
        sw      t1, DEV_L1_OFFSET(a0)
        lw      ra, 0(sp)
        addi    sp, sp, 4
        ret

# vm_map(a0 = level-1 table, a1 = virtual address, a2 = physical frame, a3 = permission bits):
# map one 4 KiB page, creating its level-2 table if there is none yet.
vm_map:
        addi    sp, sp, -20
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        sw      s2, 12(sp)
        sw      s3, 16(sp)
        mv      s1, a1                  # s1 = va
        mv      s2, a2                  # s2 = frame
        mv      s3, a3                  # s3 = permissions
        srli    t0, s1, 22              # level-1 index = VA[31:22]
        slli    t0, t0, 2
        add     s0, a0, t0              # s0 = &level-1 entry
        lw      t0, 0(s0)
        andi    t1, t0, PTE_V
        bnez    t1, vm_map.have_l2
        call    frame_alloc             # no level-2 table yet: make one
        ori     t0, a0, PTE_V           # a pointer entry: V, no R/W/X
        sw      t0, 0(s0)
vm_map.have_l2:
        andi    t1, t0, PTE_R | PTE_W | PTE_X
        bnez    t1, vm_map.superpage    # a superpage is in the way: a kernel bug
        srli    t0, t0, 12
        slli    t0, t0, 12              # t0 = level-2 table
        srli    t1, s1, 12
        andi    t1, t1, 0x3FF           # level-2 index = VA[21:12]
        slli    t1, t1, 2
        add     t0, t0, t1              # t0 = &level-2 entry
        srli    t1, s2, 12
        slli    t1, t1, 12              # frame address
        or      t1, t1, s3
        ori     t1, t1, PTE_V
        sw      t1, 0(t0)               # the PTE: frame | permissions | V
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        lw      s2, 12(sp)
        lw      s3, 16(sp)
        addi    sp, sp, 20
        ret
vm_map.superpage:
        la      a0, s_superpage         # "vm_map: a superpage is in the way"
        j       panic

# vm_copy_in(a0 = level-1 table, a1 = source, a2 = end of source, a3 = user VA | permissions)
#   -> a0 = the user virtual address after the last page.
# Copies [source, end) page by page into fresh frames and maps them at consecutive user pages.
# source and end must be page aligned (user.s aligns the user image to pages).
vm_copy_in:
        addi    sp, sp, -24
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        sw      s2, 12(sp)
        sw      s3, 16(sp)
        sw      a0, 20(sp)              # the level-1 table
        mv      s0, a1                  # s0 = source page
        mv      s1, a2                  # s1 = end
        srli    s2, a3, 12
        slli    s2, s2, 12              # s2 = user virtual address
        andi    s3, a3, 0xFFF           # s3 = permissions
vm_copy_in.page:
        bgeu    s0, s1, vm_copy_in.done
        call    frame_alloc             # a0 = frame
        mv      t0, s0                  # copy 4096 bytes: s0 -> a0, 4 words per round
        mv      t1, a0
        addi    t2, s0, PAGE_SIZE
vm_copy_in.word:
        lw      t3, 0(t0)
        sw      t3, 0(t1)
        lw      t3, 4(t0)
        sw      t3, 4(t1)
        lw      t3, 8(t0)
        sw      t3, 8(t1)
        lw      t3, 12(t0)
        sw      t3, 12(t1)
        addi    t0, t0, 16
        addi    t1, t1, 16
        bltu    t0, t2, vm_copy_in.word
        mv      a2, a0                  # vm_map(l1, va, frame, permissions)
        lw      a0, 20(sp)
        mv      a1, s2
        mv      a3, s3
        call    vm_map
        addi    s0, s0, PAGE_SIZE
        li      t0, PAGE_SIZE
        add     s2, s2, t0
        j       vm_copy_in.page
vm_copy_in.done:
        mv      a0, s2
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        lw      s2, 12(sp)
        lw      s3, 16(sp)
        addi    sp, sp, 24
        ret

# vm_lookup(a0 = level-1 table, a1 = virtual address) -> a0 = the leaf PTE mapping it, or 0.
# This is the page walk the MMU does, in software. For a superpage the level-1 entry is the leaf.
vm_lookup:
        srli    t0, a1, 22
        slli    t0, t0, 2
        add     t0, a0, t0
        lw      t1, 0(t0)               # level-1 entry
        andi    t2, t1, PTE_V
        beqz    t2, vm_lookup.none
        andi    t2, t1, PTE_R | PTE_W | PTE_X
        bnez    t2, vm_lookup.leaf      # a superpage
        srli    t1, t1, 12
        slli    t1, t1, 12              # level-2 table
        srli    t0, a1, 12
        andi    t0, t0, 0x3FF
        slli    t0, t0, 2
        add     t0, t1, t0
        lw      t1, 0(t0)               # level-2 entry
vm_lookup.leaf:
        andi    t2, t1, PTE_V
        beqz    t2, vm_lookup.none
        mv      a0, t1
        ret
vm_lookup.none:
        li      a0, 0
        ret

# user_readable(a0 = level-1 table, a1 = address, a2 = length) -> a0 = 1 if every byte of
# [address, address + length) is in a page that user mode may read (V, R and U set), else 0.
#
# This is how a kernel validates a pointer it got from user mode BEFORE using it: the kernel
# itself may read any valid page, so without this check a process could make the kernel print
# kernel memory for it (write(0x1000, ...)), or make the kernel fault (an unmapped address).
user_readable:
        addi    sp, sp, -20
        sw      ra, 0(sp)
        sw      s0, 4(sp)
        sw      s1, 8(sp)
        sw      s2, 12(sp)
        beqz    a2, user_readable.yes   # nothing to read: fine wherever it points
        add     s1, a1, a2              # s1 = end (exclusive)
        bltu    s1, a1, user_readable.no    # the range wraps around 2^32
        li      t0, UBASE
        bltu    a1, t0, user_readable.no    # below the user region
        li      t0, UEND
        bgtu    s1, t0, user_readable.no    # beyond the user region
        sw      a0, 16(sp)              # the level-1 table
        srli    s0, a1, 12
        slli    s0, s0, 12              # s0 = first page
user_readable.page:
        lw      a0, 16(sp)
        mv      a1, s0
        call    vm_lookup
        andi    a0, a0, PTE_V | PTE_R | PTE_U
        li      t0, PTE_V | PTE_R | PTE_U
        bne     a0, t0, user_readable.no
        li      t0, PAGE_SIZE
        add     s0, s0, t0              # next page ...
        bltu    s0, s1, user_readable.page  # ... while it still holds bytes of the range
user_readable.yes:
        li      a0, 1
        j       user_readable.ret
user_readable.no:
        li      a0, 0
user_readable.ret:
        lw      ra, 0(sp)
        lw      s0, 4(sp)
        lw      s1, 8(sp)
        lw      s2, 12(sp)
        addi    sp, sp, 20
        ret

s_oom:          .asciz "out of physical memory (give the machine more RAM)"
s_superpage:    .asciz "vm_map: a superpage is in the way"
        .align  4
