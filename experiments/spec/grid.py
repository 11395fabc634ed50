"""Grid files: TOML tables of axes, each a list, expanded as the product over sorted keys.

    activation = ["sigmoid", "relu"]
    lr = [0.1, 1.0]
    sizes = ["784-16-16-10"]

Axes left out take RunConfig's default. Unknown keys, bare scalars, empty lists, duplicate
values, wrong types and values out of range are rejected before anything runs, and so is a
grid of more than MAX_RUNS runs, before it is expanded.
"""
import itertools
import math
import tomllib
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from experiments.errors import UsageError
from experiments.spec.config import (
    FIELDS,
    FLOATS,
    INTEGERS,
    RunConfig,
    check_field,
    format_sizes,
    is_int,
    is_number,
    parse_sizes,
)

GRIDS_DIR = Path(__file__).parent / "grids"
AXES = sorted(FIELDS)
NUMBERS = tuple(FLOATS)
WHOLE = tuple(k for k in INTEGERS if k != "val_size")  # val_size may also be "auto"
MAX_RUNS = 100_000


def grid_path(grid: str) -> Path:
    """`default`, `full` and `tuned` name the bundled grids; anything else is a path."""
    bundled = GRIDS_DIR / f"{grid}.toml"
    if "/" not in grid and not grid.endswith(".toml") and bundled.exists():
        return bundled
    path = Path(grid)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in GRIDS_DIR.glob("*.toml")))
        raise UsageError(f"grid {grid!r} is neither a bundled grid ({names}) nor a file")
    return path


class Grid(NamedTuple):
    name: str                 # the file's stem: default, full, ...
    path: Path
    axes: dict[str, list]     # checked values, sizes as tuples


def read_grid(grid: str) -> Grid:
    """A grid read from a bundled name or a TOML path; the values are checked."""
    path = grid_path(grid)
    try:
        axes = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML ({e}); fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read grid {path} ({e}); check the path") from None
    return Grid(path.stem, path, check_axes(axes, str(path)))


def normalized(key: str, value, where: str):
    """A grid value in the form RunConfig takes (sizes as a tuple), after checking it."""
    if key == "sizes":
        try:
            value = parse_sizes(value)  # the one spelling, a string: sizes = ["784-16-16-10"]
        except (ValueError, AttributeError):
            raise UsageError(f"{where}: sizes must be written like \"784-16-16-10\", got {value!r}") from None
    elif key in NUMBERS and not is_number(value):
        raise UsageError(f"{where}: {key} must be a list of numbers, got {value!r}")
    elif key in WHOLE and not is_int(value):
        raise UsageError(f"{where}: {key} must be a list of integers, got {value!r}")
    elif key not in NUMBERS + WHOLE + ("sizes", "val_size") and not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be a list of strings, got {value!r}")
    try:
        check_field(key, value)
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None
    return value


def check_axes(axes: dict, where: str) -> dict[str, list]:
    """The axes with every value checked and normalized."""
    checked = {}
    for key, values in axes.items():
        if key not in AXES:
            raise UsageError(f"{where}: unknown key {key!r}; valid axes are {', '.join(AXES)}")
        if not isinstance(values, list):
            raise UsageError(f"{where}: {key} must be a list, e.g. {key} = [{values!r}]".replace("'", '"'))
        if not values:
            raise UsageError(f"{where}: {key} is an empty list; give at least one value or leave the key out")
        checked[key] = [normalized(key, v, where) for v in values]
        dupes = sorted(text for text, n in Counter(map(repr, checked[key])).items() if n > 1)
        if dupes:
            raise UsageError(f"{where}: {key} lists {dupes[0]} more than once; remove the duplicate")
    return checked


def parse_override(text: str) -> tuple[str, list]:
    """`key=v1,v2` -> (key, [v1, v2]) with values typed as the axis wants; sizes as 784-16-16-10."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not raw.strip():
        raise UsageError(f"--set {text!r} is not key=value[,value...], e.g. --set lr=0.1,0.3")
    if key not in AXES:
        raise UsageError(f"--set {text!r}: unknown key {key!r}; valid axes are {', '.join(AXES)}")
    items = [s.strip() for s in raw.split(",")]
    if key == "sizes" and len(items) > 1 and all(item.isdigit() for item in items):
        raise UsageError(f"--set {text!r}: layer sizes are joined by -, as in --set sizes={'-'.join(items)}; "
                         "a comma separates shapes to try, as in --set sizes=784-16-10,784-32-10")
    values = []
    for item in items:
        try:
            if key in NUMBERS:
                values.append(float(item))
            elif key in WHOLE or (key == "val_size" and item != "auto"):
                values.append(int(item))
            else:
                values.append(item)
        except ValueError:
            hint = "a number" if key in NUMBERS else "an integer" if key in WHOLE else "auto or an integer"
            raise UsageError(f"--set {text!r}: {item!r} is not valid for {key} (expected {hint})") from None
    return key, check_axes({key: values}, f"--set {text}")[key]


def with_overrides(axes: dict[str, list], overrides: list[str]) -> dict[str, list]:
    axes = dict(axes)
    for text in overrides:
        key, values = parse_override(text)
        axes[key] = values
    return axes


def count(axes: dict[str, list]) -> int:
    return math.prod(len(v) for v in axes.values())


def as_json(axes: dict[str, list]) -> dict[str, list]:
    """The axes as plain JSON values (sizes written 784-16-16-10), for the manifest."""
    return {k: [format_sizes(v) if k == "sizes" else v for v in values] for k, values in sorted(axes.items())}


def expand(axes: dict[str, list], overrides: list[str] = (), where: str = "") -> list[RunConfig]:
    """Every RunConfig of the grid, in the order of the product over sorted keys; `where` names the
    grid in the refusal of a combination no run can have.

    The scratch network runs on cpu whatever the device axis says, so its copies for
    other devices collapse into one run.
    """
    axes = with_overrides(axes, list(overrides))
    runs = count(axes)
    if runs > MAX_RUNS:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in sorted(axes.items()) if len(v) > 1)
        raise UsageError(f"the grid has {runs:,} runs ({sizes}), more than the {MAX_RUNS:,} a results folder "
                         "holds; split it into smaller grids")
    keys = sorted(axes)
    configs, seen = [], {}
    for combo in itertools.product(*(axes[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        if values.get("impl", RunConfig.impl) == "scratch" and values.get("device", RunConfig.device) != "cpu":
            values["device"] = "cpu"
        try:
            config = RunConfig(**values)
        except UsageError as e:
            raise UsageError(f"{where}: {e}" if where else str(e)) from None
        key = (config.run_id, config.impl)
        if key in seen:
            if seen[key] != config.device:
                raise UsageError(f"device lists {seen[key]} and {config.device} for impl torch: the runs would "
                                 "share run_id and impl in one results folder; run each device into its own --out")
            continue
        seen[key] = config.device
        configs.append(config)
    return configs
