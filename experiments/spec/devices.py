"""Device names, the same in every command, grid file and CSV column.

    cpu       the processor
    cuda      the first CUDA device; cuda:N the N-th
    mps       Apple's GPU (float32 only: it has no float64)
    auto      the best one present: cuda, else mps for float32 runs, else cpu

Whether a device is present is torch's to say (torch_ref.resolve_device); here only the
spelling is checked, so that a client that does not train never imports torch.
"""
import re

KINDS = ("auto", "cpu", "cuda", "mps")
SPELLING = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
FLOAT32_ONLY = ("mps",)


def device_problem(device) -> str | None:
    """What is wrong with a device name, or None."""
    if not isinstance(device, str) or not SPELLING.fullmatch(device):
        return f"unknown device {device!r}; choose from auto, cpu, cuda, cuda:N, mps"
    return None


def kind(device: str) -> str:
    """cuda:1 -> cuda."""
    return device.partition(":")[0]
