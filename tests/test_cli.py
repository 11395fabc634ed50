"""The train and gradcheck commands, and their answers to bad arguments."""
import subprocess
import sys

import pandas as pd
import pytest

from experiments.cli import main
from experiments.results import EPOCHS_COLUMNS, RUNS_COLUMNS


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
    (["train", "--batch-size", "0"], "0"),
    (["train", "--epochs", "0"], "0"),
    (["train", "--sizes", "784,16,9"], "784,16,9"),
    (["train", "--sizes", "100,16,10"], "100,16,10"),
    (["train", "--sizes", "784,a,10"], "784,a,10"),
    (["train", "--sizes", "784,0,10"], "784,0,10"),
    (["train", "--device", "tpu"], "tpu"),
    (["train", "--dtype", "float16"], "float16"),
    (["train", "--dataset", "cifar"], "cifar"),
    (["train", "--batch-size", "5000"], "5000"),
    (["train", "--impl", "scratch", "--device", "cuda"], "cuda"),
    (["train", "--impl", "scratch", "--compiled"], "--impl torch"),
]


@pytest.mark.parametrize("argv,named", BAD)
def test_bad_arguments_exit_2_with_one_line(argv, named, capsys, tmp_path):
    code, out, err = run_main(argv + ["--epochs" if "--epochs" not in argv else "--seed", "1", "--out", str(tmp_path)],
                              capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert named in err


def test_cuda_absent_is_a_usage_error(capsys, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    code, _, err = run_main(["train", "--impl", "torch", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert code == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1


def test_compiled_engine_without_a_cxx_compiler_is_a_usage_error(capsys, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_main(["run", "--grid", "default", "--engine", "compiled", "--out", str(tmp_path)], capsys)
    assert code == 2 and "C++ compiler" in err and "--engine batched" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_compiled_train_without_a_cxx_compiler_is_a_usage_error(capsys, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_main(["train", "--impl", "torch", "--compiled", "--out", str(tmp_path)], capsys)
    assert code == 2 and "C++ compiler" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_compiled_train_gives_the_eager_numbers(capsys, tmp_path, monkeypatch):
    import importlib
    from experiments.cli import compiler_found
    from torch_ref.compiled import compile_step
    if not compiler_found():
        pytest.skip("no C++ compiler for torch.compile")
    compiles = []
    torch_train = importlib.import_module("torch_ref.train")  # the module (torch_ref.train is also its function)
    monkeypatch.setattr(torch_train, "compile_step", lambda step: compiles.append(step) or compile_step(step))
    tables = []
    for flags in ([], ["--compiled"]):
        out = tmp_path / ("compiled" if flags else "eager")
        code, _, err = run_main(["train", "--impl", "torch", "--dtype", "float64", "--lr", "0.3", "--epochs", "2",
                                 "--out", str(out)] + flags, capsys)
        assert code == 0, err
        tables.append(pd.read_csv(out / "epochs.csv"))
    eager, compiled = tables
    assert len(compiles) == 1  # the --compiled run, and it alone, compiled its step
    for column in ("train_loss", "test_loss", "train_acc", "test_acc"):
        assert ((compiled[column] - eager[column]).abs() <= 1e-9 * eager[column].abs()).all(), column


def test_compiled_bench_cases_without_a_cxx_compiler_are_a_usage_error(capsys, tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = run_main(["bench", "--dataset", "sample", "--cases", "scratch,torch_compiled", "--out",
                             str(tmp_path)], capsys)
    assert code == 2 and "C++ compiler" in err and "--cases" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_missing_data_says_what_to_run(capsys, tmp_path, dataset, folder):
    code, _, err = run_main(["train", "--dataset", dataset, "--data-root", str(tmp_path / "none"),
                             "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "--download" in err and f"{folder}/raw" in err and len(err.strip().splitlines()) == 1


def test_train_writes_both_tables_and_twins_share_run_id(tmp_path):
    for impl in ("scratch", "torch"):
        done = subprocess.run([sys.executable, "-m", "experiments", "train", "--impl", impl, "--epochs", "2",
                               "--lr", "3.0", "--out", str(tmp_path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert " / 1000 (" in done.stdout and "epoch   2/2" in done.stdout
    runs = pd.read_csv(tmp_path / "runs.csv")
    epochs = pd.read_csv(tmp_path / "epochs.csv")
    assert list(runs.columns) == RUNS_COLUMNS and list(epochs.columns) == EPOCHS_COLUMNS
    assert len(runs) == 2 and runs.run_id.nunique() == 1 and set(runs.impl) == {"scratch", "torch"}
    assert len(epochs) == 4 and epochs.test_acc.between(0, 1).all()
    # float64, same init and batches: the twins' metrics agree to rounding
    s, t = (epochs[epochs.impl == i].reset_index() for i in ("scratch", "torch"))
    assert ((s.train_loss - t.train_loss).abs() / t.train_loss).max() < 1e-9
    assert (s.test_acc == t.test_acc).all()
    assert (runs.final_test_acc > 0.7).all()
    assert (tmp_path / "params" / f"{runs.run_id[0]}-scratch.npz").stat().st_size > 13002 * 8


def test_gradcheck_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments", "gradcheck", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    assert {"activation", "loss", "dtype", "param", "reference", "max_abs_err", "rel_err"} <= set(table.columns)
    assert len(table) == 2 * 3 * 6 * 2
    assert table[table.reference == "torch"].rel_err.max() <= 1e-10
    assert table[table.reference == "finite_difference"].rel_err.max() <= 1e-6


def test_gradcheck_exits_1_when_a_tensor_is_off(capsys, tmp_path, monkeypatch):
    from experiments import gradcheck
    monkeypatch.setitem(gradcheck.TOLERANCES, "float64", {"torch": 0.0, "finite_difference": 1e-6})
    code, out, _ = run_main(["gradcheck", "--out", str(tmp_path)], capsys)
    assert code == 1 and "within tolerance" in out
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    assert not table[table.reference == "torch"].passed.all()
