"""What the commands' flags share: one-line argparse errors, value types, the flags of a
RunConfig (from its fields' metadata), the data and device flags, and the checks every command
makes before any work (devices present, a C++ compiler for torch.compile, a writable --out)."""
import argparse
import os
import shutil
from pathlib import Path

from experiments.data.datasets import DATA_ROOT_ENV, default_data_root
from experiments.errors import UsageError
from experiments.spec.config import CHOICES, FIELDS, RunConfig, check_field, format_sizes, parse_sizes
from experiments.spec.devices import device_problem
from experiments.store.files import check_writable, why

PROG = "mlp-twins"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `mlp-twins train: error: ...` and status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def checked(key: str, convert):
    """An argparse type: `convert` the text, then the check of RunConfig's field `key`."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid for {key}") from None
        try:
            check_field(key, value)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    return parse


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text}")
        return value
    return parse


def sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of layer sizes like 784-16-16-10 "
                                         "(integers >= 1 joined by -)") from None


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers like 10,100") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} has a value below 1; every value must be an integer >= 1")
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"{text!r} lists a value more than once; remove the duplicate")
    return values


def device(text: str) -> str:
    problem = device_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def val_size(text: str) -> int | str:
    return text if text == "auto" else int_at_least(0)(text)


TYPES = {"float": float, "int": int}


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """A flag per field of RunConfig (--batch-size for batch_size), its help and check from the field."""
    defaults = {f.name: f.default for f in FIELDS.values()}
    for name, f in FIELDS.items():
        flag, help = f"--{name.replace('_', '-')}", f.metadata["help"]
        default = "auto" if name == "device" else defaults[name]
        shown = format_sizes(default) if name == "sizes" else default
        if name in CHOICES:
            p.add_argument(flag, default=default, choices=CHOICES[name], help=f"{help} (default: {shown})")
        elif name == "sizes":
            p.add_argument(flag, type=sizes, default=default, help=f"{help} (default: {shown})")
        elif name == "val_size":
            p.add_argument(flag, type=val_size, default=default, help=f"{help} (default: {shown})")
        elif name == "device":
            p.add_argument(flag, type=device, default=default, help=f"{help} (default: {shown})")
        else:
            p.add_argument(flag, type=checked(name, TYPES[f.metadata["kind"]]), default=default,
                           help=f"{help} (default: {shown})")


def config_from(args: argparse.Namespace) -> RunConfig:
    """The RunConfig of the flags add_config_flags made."""
    return RunConfig(**{name: getattr(args, name) for name in FIELDS})


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help="folder holding MNIST/raw or FashionMNIST/raw "
                   f"(default: ${DATA_ROOT_ENV} or {default_data_root()})")
    p.add_argument("--download", action="store_true", help="download mnist / fashion-mnist if missing (default: off)")


def add_device_flag(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    p.add_argument("--device", type=device, default=default,
                   help=f"{what}: cpu, cuda, cuda:N, mps (float32 only) or auto, the best one present "
                        f"(default: {default or 'the grid' + chr(39) + 's'})")


def check_devices(configs) -> None:
    """Fail before any run if a torch configuration asks for a device this machine lacks (cpu
    needs no check, and so the client of a cpu grid never imports torch)."""
    wanted = sorted({(c.device, c.dtype) for c in configs if c.impl == "torch" and c.device != "cpu"})
    if not wanted:
        return
    from torch_ref import resolve_device  # torch: only a grid on another device needs it here
    for name, dtype in wanted:
        try:
            resolve_device(name, dtype)
        except ValueError as e:
            raise UsageError(str(e)) from None


def compiler_found() -> bool:
    """Whether torch.compile finds the C++ compiler it builds its kernels with (C++ kernels on
    cpu, the launchers of its GPU kernels on cuda): $CXX, g++ or clang++."""
    return bool(shutil.which(os.environ.get("CXX", "g++")) or shutil.which("clang++"))


def require_compiler(what: str, instead: str) -> None:
    """Fail with one line, before any work, if torch.compile would find no C++ compiler."""
    if not compiler_found():
        raise UsageError(f"{what}: torch.compile needs a C++ compiler (g++ or clang++, or $CXX); "
                         f"install one or {instead}")


def writable(folder: Path) -> None:
    """Fail with one line unless files can be created in `folder` (made if missing)."""
    if str(folder) == "":
        raise UsageError("--out is empty; give the folder to write to")
    try:
        check_writable(Path(folder))
    except OSError as e:
        raise UsageError(f"cannot write to {folder} ({why(e)}); choose another --out") from None


def out_folder(text: str) -> Path:
    """An argparse type for --out: a path, not empty."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give the folder to write to, e.g. --out results/mine")
    return Path(text)
