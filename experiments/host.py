"""The CPU a table was made on: its model and the vector instruction sets it offers.

Float32 rounding of the matrix products depends on the kernels the libraries pick for the
CPU (torch takes AVX-512 kernels where there are any), so runs of the same code on two
hosts can part in their last bits, and chaotic runs far more; the tables say which kind of
host wrote them.
"""
import platform

SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "asimd", "sve")


def cpu() -> dict:
    """{"cpu": model name, "simd": the SIMD sets among SIMD that the CPU reports} (Linux's
    /proc/cpuinfo; elsewhere the processor's name and an empty list)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                if model and flags and key.strip() == "":
                    break  # the first processor's entry is enough
    except OSError:
        pass
    return {"cpu": model, "simd": [s for s in SIMD if s in flags]}
