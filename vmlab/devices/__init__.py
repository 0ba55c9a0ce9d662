"""Memory-mapped devices of the VL32 machine: console, timer, disk and power controller."""
