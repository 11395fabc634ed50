"""Grid files: TOML tables of axes, each a list, expanded as the product over sorted keys.

    activation = ["sigmoid", "relu"]
    lr = [0.1, 1.0]
    sizes = [[784, 16, 16, 10]]

Axes left out take RunConfig's default. Unknown keys, bare scalars, empty lists, duplicate
values, wrong types and values out of range are rejected before anything runs.
"""
import itertools
import tomllib
from dataclasses import fields
from pathlib import Path

from experiments.config import RunConfig, check_field, validate
from experiments.errors import UsageError

GRIDS_DIR = Path(__file__).parent / "grids"
AXES = sorted(f.name for f in fields(RunConfig))
TYPES = {"lr": float, "batch_size": int, "epochs": int, "seed": int, "sizes": list}
TRAIN_SIZES = {"sample": 4000, "mnist": 60000, "fashion-mnist": 60000}


def grid_path(grid: str) -> Path:
    """`default` and `full` name the bundled grids; anything else is a path."""
    bundled = GRIDS_DIR / f"{grid}.toml"
    if "/" not in grid and not grid.endswith(".toml") and bundled.exists():
        return bundled
    path = Path(grid)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in GRIDS_DIR.glob("*.toml")))
        raise UsageError(f"grid {grid!r} is neither a bundled grid ({names}) nor a file")
    return path


def read_grid(grid: str) -> tuple[str, dict[str, list]]:
    """(grid name, axes) read from a bundled name or a TOML path; the values are checked."""
    path = grid_path(grid)
    try:
        axes = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML ({e}); fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read grid {path} ({e}); check the path") from None
    check_axes(axes, str(path))
    return path.stem, axes


def check_value(key: str, value, where: str) -> None:
    kind = TYPES.get(key, str)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is list:
        ok = isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        expect = {float: "numbers", int: "integers", str: "strings", list: "lists of integers like [784, 16, 16, 10]"}
        raise UsageError(f"{where}: {key} must be a list of {expect[kind]}, got {value!r}")
    try:
        check_field(key, value)
    except UsageError as e:
        raise UsageError(f"{where}: {e}") from None


def check_axes(axes: dict, where: str) -> None:
    for key, values in axes.items():
        if key not in AXES:
            raise UsageError(f"{where}: unknown key {key!r}; valid axes are {', '.join(AXES)}")
        if not isinstance(values, list):
            raise UsageError(f"{where}: {key} must be a list, e.g. {key} = [{values!r}]".replace("'", '"'))
        if not values:
            raise UsageError(f"{where}: {key} is an empty list; give at least one value or leave the key out")
        for v in values:
            check_value(key, v, where)
        seen = [repr(v) for v in values]
        dupes = sorted({s for s in seen if seen.count(s) > 1})
        if dupes:
            raise UsageError(f"{where}: {key} lists {dupes[0]} more than once; remove the duplicate")


def parse_override(text: str) -> tuple[str, list]:
    """`key=v1,v2` -> (key, [v1, v2]) with values typed as the axis wants; sizes as 784-16-16-10."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not raw.strip():
        raise UsageError(f"--set {text!r} is not key=value[,value...], e.g. --set lr=0.1,0.3")
    if key not in AXES:
        raise UsageError(f"--set {text!r}: unknown key {key!r}; valid axes are {', '.join(AXES)}")
    kind = TYPES.get(key, str)
    values = []
    for item in (s.strip() for s in raw.split(",")):
        try:
            if kind is list:
                values.append([int(n) for n in item.split("-")])
            elif kind is float:
                values.append(float(item))
            elif kind is int:
                values.append(int(item))
            else:
                values.append(item)
        except ValueError:
            hint = "784-16-16-10" if kind is list else {float: "a number", int: "an integer"}[kind]
            raise UsageError(f"--set {text!r}: {item!r} is not valid for {key} (expected {hint})") from None
    return key, values


def expand(axes: dict[str, list], overrides: list[str] = ()) -> list[RunConfig]:
    """Every RunConfig of the grid, in the order of the product over sorted keys.

    The scratch network runs on cpu whatever the device axis says, so its copies for
    other devices collapse into one run.
    """
    axes = dict(axes)
    for text in overrides:
        key, values = parse_override(text)
        check_axes({key: values}, f"--set {text}")
        axes[key] = values
    keys = sorted(axes)
    configs, seen = [], {}
    for combo in itertools.product(*(axes[k] for k in keys)):
        values = dict(zip(keys, combo))
        if "sizes" in values:
            values["sizes"] = tuple(values["sizes"])
        config = RunConfig(**values)
        if config.impl == "scratch" and config.device != "cpu":
            config = RunConfig(**{**values, "device": "cpu"})
        validate(config)
        train_size = TRAIN_SIZES[config.dataset]
        if config.batch_size > train_size:
            raise UsageError(f"batch_size {config.batch_size} is larger than the {train_size} training images "
                             f"of {config.dataset}; choose a smaller batch_size")
        config = config.resolved()
        key = (config.run_id, config.impl)
        if key in seen:
            if seen[key] != config.device:
                raise UsageError(f"device lists {seen[key]} and {config.device} for impl torch: the runs would "
                                 "share run_id and impl in one results folder; run each device into its own --out")
            continue
        seen[key] = config.device
        configs.append(config)
    return configs
