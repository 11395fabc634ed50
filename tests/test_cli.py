"""The train and gradcheck commands, the console script, and their answers to bad arguments."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments.cli import main
from experiments.results import EPOCHS_COLUMNS, RUNS_COLUMNS
from tests.helpers import cli


def run_main(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own exits
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


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
def test_bad_arguments_exit_2_with_one_line(argv, named, capsys, tmp_path):
    extra = ["--epochs", "1"] if argv[0] == "train" and "--epochs" not in argv else []
    code, out, err = run_main(argv + extra + ["--out", str(tmp_path / "out")], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert named in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_cuda_absent_is_a_usage_error(capsys, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    code, _, err = run_main(["train", "--impl", "torch", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,fix", [
    (["run", "--grid", "default", "--engine", "compiled"], "--engine batched"),
    (["train", "--impl", "torch", "--compiled"], "leave --compiled out"),
    (["bench", "--dataset", "sample", "--cases", "scratch,torch_compiled"], "--cases"),
])
def test_compiled_without_a_cxx_compiler_is_a_usage_error(capsys, tmp_path, monkeypatch, argv, fix):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_main(argv + ["--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "C++ compiler" in err and fix in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing written


def test_train_compiled_compiles_its_step(capsys, tmp_path, monkeypatch):
    """`train --compiled` hands the twin's step to torch.compile (counted, the compiler left out:
    the compiled numbers are tested in test_parity)."""
    import importlib
    torch_train = importlib.import_module("torch_ref.train")  # the module (torch_ref.train is also its function)
    compiled = []
    monkeypatch.setattr(torch_train, "compile_step", lambda step: compiled.append(step) or step)
    monkeypatch.setattr("experiments.cli.compiler_found", lambda: True)
    code, _, err = run_main(["train", "--impl", "torch", "--epochs", "1", "--out", str(tmp_path), "--compiled"],
                            capsys)
    assert code == 0, err
    assert len(compiled) == 1


@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_missing_data_says_what_to_run(capsys, tmp_path, dataset, folder):
    code, _, err = run_main(["train", "--dataset", dataset, "--data-root", str(tmp_path / "none"),
                             "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "--download" in err and f"{folder}/raw" in err and len(err.strip().splitlines()) == 1


def test_train_writes_both_tables_and_twins_share_run_id(tmp_path):
    args = ["--epochs", "2", "--lr", "2", "--l2", "1", "--momentum", "0.5", "--lr-decay", "0.8", "--out", tmp_path]
    for impl in ("scratch", "torch"):
        done = cli("train", "--impl", impl, *args)
        assert done.returncode == 0, done.stderr
        assert "epoch   2/2: val_acc" in done.stdout and "best validation accuracy" in done.stdout
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


def test_train_again_finds_the_run_complete(tmp_path, capsys):
    argv = ["train", "--epochs", "1", "--out", str(tmp_path)]
    assert run_main(argv, capsys)[0] == 0
    before = (tmp_path / "runs.csv").read_bytes(), (tmp_path / "epochs.csv").read_bytes()
    code, out, _ = run_main(argv, capsys)
    assert code == 0 and "already complete" in out
    assert ((tmp_path / "runs.csv").read_bytes(), (tmp_path / "epochs.csv").read_bytes()) == before


def test_train_redoes_a_run_cut_off(tmp_path, capsys):
    """A killed train leaves epoch rows without a runs row: the next train drops them and redoes the run."""
    argv = ["train", "--epochs", "2", "--out", str(tmp_path)]
    assert run_main(argv, capsys)[0] == 0
    complete = pd.read_csv(tmp_path / "epochs.csv")
    runs = (tmp_path / "runs.csv").read_text().splitlines()
    (tmp_path / "runs.csv").write_text(runs[0] + "\n")  # as if killed before its runs row
    assert run_main(argv, capsys)[0] == 0
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
