"""A training step put through torch.compile whole.

Eager torch pays its overhead per operation: at batch 10 on a 2-core machine a step of the
twin costs ~0.6 ms, of which the arithmetic is a small part, and a step of a stack of 36
networks runs ~200 operations. Written as a function of the parameters, with the gradient
taken by torch.func.grad (autograd, traced ahead of time) and the update applied in place,
the step's gather, forward, backward and update become one compiled graph: a few fused
kernels and the matrix products, one call a step.
"""
import torch


def compile_step(step):
    """torch.compile(step) as one graph. Each call compiles into a cache of its own
    (isolate_recompiles): steps of other networks neither evict it nor count towards its
    recompile limit, and other compiled functions of the process are left alone."""
    import logging

    from torch._inductor import config as inductor
    inductor.compile_threads = 1  # no pool of compiling processes beside a one-thread run
    # its "No CUDA runtime is found" says nothing about a step that compiles for the cpu
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(step, fullgraph=True, isolate_recompiles=True)
