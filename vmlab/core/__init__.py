"""The core: the jitted VL32 processor ("hardware"), including its virtualization support."""
