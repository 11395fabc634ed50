"""A training step put through torch.compile whole.

Eager torch pays its overhead per operation: at batch 10 on a 2-core machine a step of the
twin costs ~0.6 ms, of which the arithmetic is a small part, and a step of a stack of 36
networks runs ~200 operations. Written as a function of the parameters, with the gradient
taken by torch.func.grad (autograd, traced ahead of time) and the update applied in place,
the step's gather, forward, backward and update become one compiled graph: a few fused
kernels and the matrix products, one call a step.

Inductor keeps what it compiled on disk, and the key of its graph cache leaves out the vector
instruction set the code was generated for: code made for AVX-512 and read back where torch
runs AVX2 (`ATEN_CPU_CAPABILITY=avx2`, or another CPU sharing the cache's folder) trained to
NaN, and the reverse to numbers that were simply other. So the compiled step keeps inductor's
graph and AOTAutograd caches in a folder of their own per instruction set (`kernels_cache`).
"""
import hashlib
import os
import platform
import re
from pathlib import Path

import torch


def compile_step(step):
    """torch.compile(step) as one graph. Each call compiles into a cache of its own
    (isolate_recompiles): steps of other networks neither evict it nor count towards its
    recompile limit, and other compiled functions of the process are left alone."""
    import logging

    from torch._inductor import config as inductor
    kernels_cache()
    inductor.compile_threads = 1  # no pool of compiling processes beside a one-thread run
    # its "No CUDA runtime is found" says nothing about a step that compiles for the cpu
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(step, fullgraph=True, isolate_recompiles=True)


CACHE_DIR = "TORCHINDUCTOR_CACHE_DIR"
KERNEL_SET = re.compile(r"kernels-[a-z0-9_]+-[0-9a-f]{8}")  # a folder kernels_cache made
ISA_FLAG = re.compile(r"(sse|ssse|pni|avx|fma|f16c|amx|bmi|asimd|sve|neon|fp)")  # SSE3 is "pni"


def kernel_set() -> str:
    """What compiled CPU code is specialised for: torch's CPU capability (which
    ATEN_CPU_CAPABILITY lowers) and the instruction sets this CPU offers, e.g. "kernels-avx2-1f0c9a2e"."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = ""
    # the vector and arithmetic sets only: a kernel or microcode update that changes the others
    # (md_clear, ibpb, ...) leaves compiled code as valid as it was
    sets = " ".join(sorted(f for f in flags.partition(":")[2].split() if ISA_FLAG.match(f)))
    cpu = sets or platform.processor() or platform.machine()
    capability = re.sub(r"[^a-z0-9_]", "_", torch.backends.cpu.get_cpu_capability().lower())  # "NO AVX" on arm
    return f"kernels-{capability}-{hashlib.sha256(cpu.encode()).hexdigest()[:8]}"


def kernels_cache() -> Path:
    """Point inductor's graph and AOTAutograd caches at a folder of this kernel set, within the
    one they use otherwise ($TORCHINDUCTOR_CACHE_DIR or inductor's default), before the first
    compile; the processes it starts inherit it (and, should they run another kernel set, make
    a sibling folder)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir  # inductor's own answer, read at each compile
    folder = Path(cache_dir())
    if KERNEL_SET.fullmatch(folder.name):
        folder = folder.parent
    folder = folder / kernel_set()
    os.environ[CACHE_DIR] = str(folder)
    return folder
