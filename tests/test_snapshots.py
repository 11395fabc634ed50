"""One snapshot per kind of output: the wording and layout of what a command prints or writes,
numbers, paths and run ids masked, against tests/snapshots/. The other tests check the numbers;
these catch a sentence or a column that changes unnoticed.

After a change of wording on purpose: MLP_TWINS_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py,
then read the diff of tests/snapshots/ before committing it."""
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import cli, write_grid

SNAPSHOTS = Path(__file__).parent / "snapshots"


def masked(text: str, *paths: Path) -> str:
    """The text with run ids, paths, numbers and runs of spaces masked: what is left is wording."""
    for path in paths:
        text = text.replace(str(path), "<folder>")
    text = re.sub(r"\b[0-9a-f]{12}\b", "<run_id>", text)
    text = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", text)
    text = re.sub(r"(#[ ,.%±]*)+#", "#", text)  # a table's row of numbers is one mark
    text = re.sub(r"-{3,}", "---", text)  # a markdown table's rule, as wide as its widest cell
    return "\n".join(re.sub(r" {2,}", " ", line).rstrip() for line in text.splitlines()) + "\n"


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("MLP_TWINS_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path}; write it with MLP_TWINS_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} differs from {path}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """sigmoid and relu, mse and ce, lr 0.1 and 0.5, 2 seeds, both twins, 2 epochs."""
    root = tmp_path_factory.mktemp("snap")
    grid = write_grid(root / "grid.toml", activation=["sigmoid", "relu"], seed=[0, 1])
    assert cli("run", "--grid", grid, "--out", root / "out").returncode == 0
    return root / "out"


def test_inspect(folder):
    done = cli("inspect", folder)
    check("inspect", masked(done.stdout, folder))


def test_report(folder, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(folder, out)
    assert cli("inspect", out, "--report").returncode == 0
    check("report", masked((out / "report.md").read_text(), out))


def test_against(folder, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    done = cli("inspect", folder, "--against", other)
    check("against", masked(done.stdout, folder, other))


def test_train(tmp_path):
    done = cli("train", "--epochs", "2", "--out", tmp_path)
    check("train", masked(done.stdout, tmp_path))


def test_predict(folder, tmp_path, sample):
    from PIL import Image
    Image.fromarray(sample.test_images[0].reshape(28, 28)).save(tmp_path / "digit.png")
    done = cli("predict", tmp_path / "digit.png", "--model", folder)
    check("predict", masked(done.stdout, folder, tmp_path))


def test_gradcheck(tmp_path):
    done = cli("gradcheck", "--sizes", "784-8-10", "--out", tmp_path)
    check("gradcheck", masked(done.stdout, tmp_path))
