"""inspect A --against B: two results folders compared run for run, matched on every field of
their configuration but the settings in which the folders differ as wholes."""
import csv
import shutil

import numpy as np
import pandas as pd

from tests.helpers import cli


def test_against_another_engine_agrees_and_names_the_runs_only_one_holds(reference, single_engine, tmp_path):
    """The shared reference (the batched engine) against the same grid run one run at a time:
    other code, the same numbers to 1e-9, and a run left out of one folder is named."""
    grid, ref = reference
    shutil.copytree(single_engine, tmp_path / "single")
    runs = pd.read_csv(tmp_path / "single" / "runs.csv")
    lines = (tmp_path / "single" / "runs.csv").read_text().splitlines(keepends=True)
    (tmp_path / "single" / "runs.csv").write_text("".join(lines[:-1]))
    done = cli("inspect", ref, "--against", tmp_path / "single", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "engine: batched  |  single" in done.stdout
    assert "7 runs in both: 7 agree to 1e-9 relative in every final and per-epoch metric, 7 to 1e-6" in done.stdout
    last = runs.iloc[-1]
    assert f"1 run(s) only in {ref}: {last.run_id}-{last.impl}" in done.stdout
    table = pd.read_csv(pd.io.common.StringIO(done.stdout.split("\n\n")[-1]))
    assert list(table.columns[:7]) == ["run_id", "impl", "activation", "loss", "lr", "seed", "status"]
    assert (table.max_rel_diff <= 1e-9).all() and (table.max_rel_diff > 0).any()  # other code: not bit for bit


def test_against_names_a_run_that_ended_otherwise(reference, tmp_path):
    grid, ref = reference
    shutil.copytree(ref, tmp_path / "copy")
    runs = (tmp_path / "copy" / "runs.csv").read_text().replace(",ok,", ",diverged,", 1)
    (tmp_path / "copy" / "runs.csv").write_text(runs)
    done = cli("inspect", ref, "--against", tmp_path / "copy")
    assert done.returncode == 0, done.stderr
    assert "1 run(s) ended otherwise in the two folders" in done.stdout and "(ok | diverged)" in done.stdout
    assert "8 runs in both: 7 agree to 1e-9" in done.stdout


def test_against_float32_lists_how_the_folders_differ_and_how_far_the_numbers_part(reference, tmp_path):
    grid, ref = reference
    assert cli("run", "--grid", grid, "--out", tmp_path / "f32", "--set", "dtype=float32").returncode == 0
    done = cli("inspect", ref, "--against", tmp_path / "f32", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "dtype: float64  |  float32" in done.stdout
    assert "8 runs in both: 0 agree to 1e-9 relative" in done.stdout  # float32 rounds at 1e-7
    table = pd.read_csv(pd.io.common.StringIO(done.stdout.split("\n\n")[-1]))
    ours, theirs = pd.read_csv(ref / "runs.csv"), pd.read_csv(tmp_path / "f32" / "runs.csv")
    merged = ours.merge(theirs, on=["activation", "loss", "lr", "seed", "impl"])
    expected = (merged.final_test_loss_x - merged.final_test_loss_y).abs().max()
    assert np.isclose(table.abs_diff_final_test_loss.max(), expected, rtol=1e-9)


def test_against_takes_no_metric_plot_or_report(reference, tmp_path):
    _, ref = reference
    for flag in (["--metric", "final_val_acc"], ["--plot"], ["--report"]):
        done = cli("inspect", ref, "--against", ref, *flag)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        assert "--against compares every final and per-epoch metric" in done.stderr


def test_against_says_when_one_folder_lacks_epoch_rows(reference, tmp_path):
    _, ref = reference
    folder = tmp_path / "out"
    shutil.copytree(ref, folder)
    epochs = pd.read_csv(folder / "epochs.csv")
    epochs[epochs.impl == "scratch"].to_csv(folder / "epochs.csv", index=False)
    done = cli("inspect", ref, "--against", folder)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    assert "4 of them have epoch rows in only one folder's epochs.csv" in done.stdout
    assert "8 runs in both: 4 agree to 1e-9" in done.stdout


def test_a_folder_of_two_dtypes_against_itself_pairs_each_run_with_its_own(tmp_path):
    """float32 and float64 runs in one folder: matched on dtype, so every run meets itself and
    all agree (matching across dtype would pair a float32 run with a float64 one)."""
    done = cli("run", "--set", "epochs=1", "--set", "seed=0", "--set", "activation=relu", "--set", "loss=ce",
               "--set", "dtype=float32,float64", "--out", tmp_path / "x")
    assert done.returncode == 0, done.stderr
    done = cli("inspect", tmp_path / "x", "--against", tmp_path / "x", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(pd.io.common.StringIO(done.stdout.split("\n\n")[-1]))
    assert len(table) == 12 and (table.max_rel_diff == 0).all()  # 3 rates x 2 dtypes x 2 twins
    assert "dtype" not in table.columns  # nothing matched across


def test_a_cpu_folder_against_a_cuda_one_matches_the_torch_runs_across_devices(reference, tmp_path):
    """The torch runs of one folder on cuda (their device column), the scratch runs on cpu in
    both: each implementation is matched on its own, and the device shown where it differs."""
    _, ref = reference
    shutil.copytree(ref, tmp_path / "cuda")
    path = tmp_path / "cuda" / "runs.csv"
    header, *rows = list(csv.reader(path.read_text().splitlines()))  # as text: every number kept to its last bit
    impl, device = header.index("impl"), header.index("device")
    for row in rows:
        row[device] = "cuda" if row[impl] == "torch" else row[device]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    done = cli("inspect", ref, "--against", tmp_path / "cuda", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(pd.io.common.StringIO(done.stdout.split("\n\n")[-1]))
    assert len(table) == 8 and (table.max_rel_diff == 0).all()
    assert set(table[table.impl == "torch"].device) == {"cpu | cuda"}
