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
    model, info = platform.processor() or platform.machine(), {}
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n", 1)[0]  # the first processor's entry
        info = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first.splitlines())}
    except OSError:
        pass
    flags = set((info.get("flags") or info.get("Features", "")).split())
    return {"cpu": info.get("model name") or model, "simd": [s for s in SIMD if s in flags]}
