"""The train and gradcheck commands, the console script, and their answers to bad arguments."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.store.layout import EPOCHS_COLUMNS, RUNS_COLUMNS
from tests.helpers import cli, one_line_error

BAD = [
    (["train", "--activation", "tanh"], "tanh"),
    (["train", "--loss", "hinge"], "hinge"),
    (["train", "--init", "xavier"], "xavier"),
    (["train", "--lr", "0"], "0"),
    (["train", "--lr", "-1"], "-1"),
    (["train", "--l2", "-1"], "-1"),
    (["train", "--momentum", "1"], "[0, 1)"),
    (["train", "--lr-decay", "1.5"], "(0, 1]"),
    (["train", "--batch-size", "0"], "0"),
    (["train", "--epochs", "0"], "0"),
    (["train", "--seed", "-1"], "-1"),
    (["train", "--val-size", "-5"], "-5"),
    (["train", "--val-size", "4000"], "val_size 4000"),
    (["train", "--sizes", "784-16-9"], "784-16-9"),
    (["train", "--sizes", "100-16-10"], "100-16-10"),
    (["train", "--sizes", "784,16,10"], "784-16-16-10"),
    (["train", "--sizes", "784-a-10"], "784-a-10"),
    (["train", "--sizes", "784-0-10"], "784-0-10"),
    (["train", "--device", "tpu"], "tpu"),
    (["train", "--device", "cuda:x"], "cuda:x"),
    (["train", "--impl", "torch", "--device", "mps"], "float32"),
    (["run", "--device", "gpu"], "gpu"),
    (["train", "--dtype", "float16"], "float16"),
    (["train", "--dataset", "cifar"], "cifar"),
    (["train", "--batch-size", "3600"], "3600"),
    (["train", "--impl", "scratch", "--device", "cuda"], "cuda"),
    (["train", "--impl", "scratch", "--compiled"], "--impl torch"),
    (["train", "--seed", str(2 ** 32)], "[0, 2**32)"),
    (["train", "--dtype", "float32", "--lr", "1e39"], "float32 can hold"),
    (["train", "--dtype", "float32", "--l2", "1e-50"], "float32 can hold"),
    (["run", "--set", "sizes=784,16,10"], "--set sizes=784-16-10"),
    (["gradcheck", "--seed", "-1"], "-1"),
    (["train", "--sizes", "784-100000000-10"], "GB"),
]


@pytest.mark.parametrize("argv,named", BAD)
def test_bad_arguments_exit_2_with_one_line(argv, named, tmp_path):
    extra = ["--epochs", "1"] if argv[0] == "train" and "--epochs" not in argv else []
    one_line_error(cli(*argv, *extra, "--out", tmp_path / "out"), named)
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("device", ["cuda", "cuda:3"])
def test_an_absent_cuda_device_is_a_usage_error(tmp_path, device):
    import torch
    if torch.cuda.device_count() > 3:
        pytest.skip("CUDA devices are present")
    one_line_error(cli("train", "--impl", "torch", "--device", device, "--out", tmp_path), device)
    one_line_error(cli("run", "--device", device, "--out", tmp_path), device)
    assert not (tmp_path / "runs.csv").exists()


def test_auto_is_the_best_device_present_in_every_command(tmp_path):
    """train, run and bench read --device auto alike: cuda when present, else cpu (mps only in float32)."""
    import torch

    from torch_ref import resolve_device
    best = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto", "float64").type == best
    assert cli("train", "--impl", "torch", "--device", "auto", "--epochs", "1", "--out", tmp_path / "t").returncode == 0
    assert set(pd.read_csv(tmp_path / "t" / "runs.csv").device) == {best}
    done = cli("run", "--device", "auto", "--set", "impl=torch", "--set", "epochs=1", "--set", "seed=0",
               "--set", "activation=relu", "--set", "loss=ce", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    assert set(pd.read_csv(tmp_path / "r" / "runs.csv").device) == {best}


@pytest.mark.parametrize("argv,fix", [
    (["run", "--grid", "default", "--engine", "compiled"], "--engine batched"),
    (["train", "--impl", "torch", "--compiled"], "leave --compiled out"),
    (["bench", "--dataset", "sample", "--cases", "scratch,torch_compiled"], "--cases"),
])
def test_compiled_without_a_cxx_compiler_is_a_usage_error(tmp_path, monkeypatch, argv, fix):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    one_line_error(cli(*argv, "--out", tmp_path / "out"), "C++ compiler", fix)
    assert not (tmp_path / "out").exists()  # nothing written


def test_train_compiled_hands_its_step_to_torch_compile(tmp_path, monkeypatch):
    """`train --compiled` hands the twin's step to torch.compile (counted, the compiler replaced by
    the identity: the compiled numbers are tested in test_parity)."""
    import importlib
    import shutil
    torch_train = importlib.import_module("torch_ref.train")  # the module (torch_ref.train is also its function)
    compiled = []
    monkeypatch.setattr(torch_train, "compile_step", lambda step: compiled.append(step) or step)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/g++")
    done = cli("train", "--impl", "torch", "--epochs", "1", "--out", tmp_path, "--compiled")
    assert done.returncode == 0, done.stderr
    assert len(compiled) == 1


@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_missing_data_says_what_to_run(tmp_path, dataset, folder):
    one_line_error(cli("train", "--dataset", dataset, "--data-root", tmp_path / "none", "--out", tmp_path / "out"),
                   "--download", f"{folder}/raw")


def test_train_writes_both_tables_and_twins_share_run_id(tmp_path):
    args = ["--epochs", "2", "--lr", "2", "--l2", "1", "--momentum", "0.5", "--lr-decay", "0.8", "--out", tmp_path]
    for impl in ("scratch", "torch"):
        done = cli("train", "--impl", impl, *args)
        assert done.returncode == 0, done.stderr
        epochs_shown = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
        assert [line.split(":")[0] for line in epochs_shown] == ["epoch   1/2", "epoch   2/2"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    epochs = pd.read_csv(tmp_path / "epochs.csv")
    assert list(runs.columns) == RUNS_COLUMNS and list(epochs.columns) == EPOCHS_COLUMNS
    assert len(runs) == 2 and runs.run_id.nunique() == 1 and set(runs.impl) == {"scratch", "torch"}
    assert len(epochs) == 4 and epochs.test_acc.between(0, 1).all() and epochs.val_acc.between(0, 1).all()
    assert (runs.l2 == 1.0).all() and (runs.momentum == 0.5).all() and (runs.lr_decay == 0.8).all()
    assert (runs.val_size == 500).all()
    # float64, same init and batches: the twins' metrics agree to rounding
    s, t = (epochs[epochs.impl == i].reset_index() for i in ("scratch", "torch"))
    assert ((s.train_loss - t.train_loss).abs() / t.train_loss).max() < 1e-9
    assert (s.test_acc == t.test_acc).all() and (s.val_acc == t.val_acc).all()
    assert (runs.final_test_acc > 0.7).all()
    # the best epoch is the one of the best validation accuracy, and the test accuracy is read there
    for _, run in runs.iterrows():
        mine = epochs[epochs.impl == run.impl]
        best = mine.loc[mine.val_acc.idxmax()]
        assert run.best_epoch == best.epoch and run.best_val_acc == best.val_acc
        assert run.test_acc_at_best == best.test_acc


def test_train_again_finds_the_run_complete(tmp_path):
    argv = ["train", "--epochs", "1", "--out", tmp_path]
    assert cli(*argv).returncode == 0
    before = (tmp_path / "runs.csv").read_bytes(), (tmp_path / "epochs.csv").read_bytes()
    again = cli(*argv)
    assert again.returncode == 0 and not any(line.startswith("epoch ") for line in again.stdout.splitlines())
    assert ((tmp_path / "runs.csv").read_bytes(), (tmp_path / "epochs.csv").read_bytes()) == before


def test_train_redoes_a_run_cut_off(tmp_path):
    """A killed train leaves epoch rows without a runs row: the next train drops them and redoes the run."""
    argv = ["train", "--epochs", "2", "--out", tmp_path]
    assert cli(*argv).returncode == 0
    complete = pd.read_csv(tmp_path / "epochs.csv")
    runs = (tmp_path / "runs.csv").read_text().splitlines()
    (tmp_path / "runs.csv").write_text(runs[0] + "\n")  # as if killed before its runs row
    assert cli(*argv).returncode == 0
    again = pd.read_csv(tmp_path / "epochs.csv")
    assert len(again) == 2 and len(pd.read_csv(tmp_path / "runs.csv")) == 1
    pd.testing.assert_frame_equal(again.drop(columns="wall_s"), complete.drop(columns="wall_s"))


def test_the_console_script_and_the_version():
    from experiments import __version__
    script = Path(sys.executable).parent / "mlp-twins"
    assert script.exists(), "pip install -e . makes the mlp-twins command"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"mlp-twins {__version__}"
    assert __version__[0].isdigit() and __version__ != "0+unknown"


def test_train_is_a_grid_of_one_run_through_runs_lifecycle(tmp_path):
    """The same run by `train` and by `run --engine single`: the same rows and parameter files,
    and a manifest of the same layout (a grid named train)."""
    import json

    import numpy as np
    assert cli("train", "--epochs", "2", "--activation", "relu", "--loss", "ce", "--lr", "0.1",
               "--out", tmp_path / "t").returncode == 0
    done = cli("run", "--engine", "single", "--set", "activation=relu", "--set", "loss=ce", "--set", "lr=0.1",
               "--set", "epochs=2", "--set", "seed=0", "--set", "impl=scratch", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    t, r = (pd.read_csv(tmp_path / f / "runs.csv").drop(columns="wall_s") for f in ("t", "r"))
    pd.testing.assert_frame_equal(t, r)
    files = sorted(p.name for p in (tmp_path / "t" / "params").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "r" / "params").iterdir()) and len(files) == 2
    for name in files:
        with np.load(tmp_path / "t" / "params" / name) as a, np.load(tmp_path / "r" / "params" / name) as b:
            assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith(("W", "b")))
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert [g["name"] for g in manifest["grids"]] == ["train"] and manifest["sessions"][0]["finished"]


def test_run_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    done = cli("run", "--dry-run", "--set", "epochs=3", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out").exists()
    units = [line for line in done.stdout.splitlines() if line.strip().startswith("unit ")]
    assert len(units) == 4  # two seeds x two implementations, one stack each
    assert all(", 18 run(s) of sample" in u and "3 epochs" in u for u in units)
    last = done.stdout.strip().splitlines()[-1]
    assert " min on " in last and " MB of memory" in last
