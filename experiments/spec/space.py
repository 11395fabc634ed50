"""Search spaces: TOML files of ranges, choices and fixed settings, for `mlp-twins search`.

    lr = {low = 0.003, high = 1.0, log = true}    a range (log: sampled evenly in log space)
    epochs = {low = 10, high = 60}                a range of integers, for an integer field
    activation = ["sigmoid", "relu"]              a choice
    dataset = ["mnist"]                           fixed, written as a grid writes it

Keys are RunConfig's fields, checked as a grid's are; the bounds of a range are checked as values
of their field. The seed, the implementation and the device are one value each: a search
compares configurations on one seed, and runs its best on more (experiments.execution.search).
Bundled spaces live beside the grids, in spec/spaces/.
"""
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from experiments.errors import UsageError
from experiments.spec.config import FLOATS, INTEGERS, RunConfig, check_field, is_int, is_number, parse_sizes
from experiments.spec.grid import AXES, check_axes, with_overrides

SPACES_DIR = Path(__file__).parent / "spaces"
ONE_VALUE = ("seed", "impl", "device", "dataset", "val_size")  # trials compare on one seed and one validation set


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def as_json(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


class Space(NamedTuple):
    name: str
    path: Path
    ranges: dict[str, Range]      # sampled from a range
    choices: dict[str, list]      # sampled among the values
    fixed: dict[str, object]      # one value

    def as_json(self) -> dict:
        """The space as plain JSON values, for the manifest."""
        fixed = {k: "-".join(map(str, v)) if k == "sizes" else v for k, v in self.fixed.items()}
        choices = {k: ["-".join(map(str, x)) for x in v] if k == "sizes" else v for k, v in self.choices.items()}
        return {"ranges": {k: r.as_json() for k, r in sorted(self.ranges.items())}, "choices": dict(sorted(
            choices.items())), "fixed": dict(sorted(fixed.items()))}

    def config(self, params: dict) -> RunConfig:
        """The RunConfig of a trial's params (as Optuna keeps them: sizes written 784-16-16-10)."""
        values = {k: parse_sizes(v) if k == "sizes" and isinstance(v, str) else v for k, v in params.items()}
        return RunConfig(**self.fixed, **values)


def space_path(space: str) -> Path:
    """A bundled space's name, or a path."""
    bundled = SPACES_DIR / f"{space}.toml"
    if "/" not in space and not space.endswith(".toml") and bundled.exists():
        return bundled
    path = Path(space)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in SPACES_DIR.glob("*.toml"))) or "none"
        raise UsageError(f"search space {space!r} is neither a bundled space ({names}) nor a file")
    return path


def parse_range(key: str, table: dict, where: str) -> Range:
    if key not in FLOATS + INTEGERS or key == "seed":
        raise UsageError(f"{where}: {key} cannot be a range; give a list of its values, e.g. {key} = [...]")
    unknown = set(table) - {"low", "high", "log"}
    if unknown or not {"low", "high"} <= set(table):
        raise UsageError(f"{where}: {key} must be a list or a range {{low = ..., high = ..., log = true|false}}; "
                         f"got {table!r}")
    integer = key in INTEGERS
    low, high, log = table["low"], table["high"], table.get("log", False)
    kind = is_int if integer else is_number
    if not (kind(low) and kind(high)) or not isinstance(log, bool):
        raise UsageError(f"{where}: {key}'s low and high must be {'integers' if integer else 'numbers'} and log "
                         f"true or false; got {table!r}")
    for bound in (low, high):
        try:
            check_field(key, bound)
        except UsageError as e:
            raise UsageError(f"{where}: the range of {e}") from None
    if not low < high:
        raise UsageError(f"{where}: {key}'s range needs low < high; got low {low}, high {high}")
    if log and low <= 0:
        raise UsageError(f"{where}: {key}'s log range needs low > 0; got {low}")
    return Range(low, high, log, integer)


def read_space(space: str, overrides: list[str] = ()) -> Space:
    """A search space from a bundled name or a TOML path, its `--set` overrides applied (they make
    an axis a choice, or fixed with one value)."""
    path = space_path(space)
    try:
        entries = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML ({e}); fix the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read search space {path} ({e}); check the path") from None
    where = str(path)
    ranges, lists = {}, {}
    for key, value in entries.items():
        if key not in AXES:
            raise UsageError(f"{where}: unknown key {key!r}; valid keys are {', '.join(AXES)}")
        if isinstance(value, dict):
            ranges[key] = parse_range(key, value, where)
        else:
            lists[key] = value
    lists = with_overrides(check_axes(lists, where), list(overrides))
    ranges = {k: r for k, r in ranges.items() if k not in lists}
    for key in ONE_VALUE:
        if len(lists.get(key, [None])) > 1 or key in ranges:
            got = lists.get(key) or ranges[key].as_json()
            raise UsageError(f"{where}: {key} must be one value in a search space (its trials are compared on one "
                             f"seed and one validation set, and its best run again on more seeds); got {got}")
    fixed = {k: v[0] for k, v in lists.items() if len(v) == 1}
    choices = {k: v for k, v in lists.items() if len(v) > 1}
    if not ranges and not choices:
        raise UsageError(f"{where}: nothing to search: give a range or a list of two values or more")
    RunConfig(**fixed, **{k: v[0] for k, v in choices.items()},
              **{k: r.low for k, r in ranges.items()})  # the fixed values fit together (a batch the data can give)
    return Space(path.stem, path, ranges, choices, fixed)


def suggest(trial, space: Space) -> dict:
    """A trial's params, asked of an Optuna trial: a value for every range and choice."""
    params = {}
    for key, r in sorted(space.ranges.items()):
        params[key] = trial.suggest_int(key, r.low, r.high, log=r.log) if r.integer \
            else trial.suggest_float(key, r.low, r.high, log=r.log)
    for key, values in sorted(space.choices.items()):
        shown = ["-".join(map(str, v)) if key == "sizes" else v for v in values]  # Optuna stores plain values
        picked = trial.suggest_categorical(key, shown)
        params[key] = values[shown.index(picked)]
    return params  # sizes as a tuple, as RunConfig takes it (Space.config also reads Optuna's string)
