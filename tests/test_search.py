"""mlp-twins search: Optuna's trials trained as grids, written as grids, chosen on validation,
resumed after a stop, and the best run again on more seeds."""
import json

import pandas as pd
import pytest

from experiments.execution.search import STUDY, open_study
from experiments.spec.space import read_space, suggest
from experiments.store.folder import ResultsDir
from tests.helpers import cli, one_line_error

SMALL = ["--set", "epochs=1,2", "--set", "loss=ce,mse", "--set", "activation=relu"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A search of 6 trials on the sample, in batches of 3, its best 2 run again on 2 seeds."""
    out = tmp_path_factory.mktemp("search") / "out"
    done = cli("search", "--trials", "6", "--batch", "3", "--confirm", "2", "--confirm-seeds", "2", "--out", out,
               *SMALL)
    assert done.returncode == 0, done.stderr
    return out


def trials_of(folder):
    space = read_space("default", SMALL[1::2])
    study = open_study(ResultsDir(folder), space, 0)
    return space, [t for t in study.get_trials() if t.state.name == "COMPLETE"]


def test_a_search_writes_a_results_folder_and_its_study(searched):
    runs = pd.read_csv(searched / "runs.csv")
    space, trials = trials_of(searched)
    assert len(trials) == 6 and (searched / STUDY).exists()
    trial_runs = {space.config(t.params).run_id for t in trials}
    assert trial_runs <= set(runs.run_id) and set(runs.seed) == {0, 1}
    confirmed = runs.groupby("run_id").first()
    assert (runs[runs.seed == 1].run_id.nunique()) == 2  # the best two, on a second seed
    (entry,) = json.loads((searched / "manifest.json").read_text())["grids"]
    assert entry["search"] and entry["name"] == "search:default" and entry["runs"] == len(runs)
    assert sorted(entry["run_ids"]) == sorted(f"{r}-scratch" for r in runs.run_id)
    assert len(confirmed) == len(runs.run_id.unique())
    for path in (searched / "params").iterdir():
        assert path.name.endswith(("-best.npz", "-final.npz"))


def test_the_sampler_is_told_the_validation_accuracy_and_never_the_test(searched):
    runs = pd.read_csv(searched / "runs.csv").set_index("run_id")
    space, trials = trials_of(searched)
    told = []
    for trial in trials:
        row = runs.loc[space.config(trial.params).run_id]
        row = row[row.seed == 0].iloc[0] if isinstance(row, pd.DataFrame) else row
        assert trial.value == row.best_val_acc
        told.append(trial.value != row.test_acc_at_best)
    assert any(told)  # validation and test tell apart: the value told is not the test accuracy


def test_the_report_of_a_search_says_what_it_found(searched):
    from experiments.analysis.report import build
    from experiments.analysis.selection import load
    intro, sections, missing = build(searched)
    found = next(s for s in sections if s.title == "What did the search find?")
    space, trials = trials_of(searched)
    assert found.facts["trials"] == 6 and found.facts["best_value"] == max(t.value for t in trials)
    assert len(found.facts["confirmed"]) == 2 and set(found.facts["confirmed"].seeds) == {2}
    best = next(s for s in sections if s.title == "The best configuration")
    runs, _ = load(searched)
    assert best.facts["best"].seeds == 2  # a one-seed trial does not compete with the configurations run again
    assert (searched / "plots" / "report_search_history.png").stat().st_size > 5000
    _, epochs = load(searched)
    assert found.facts["max_train_acc"] == epochs.train_acc.max()
    assert found.facts["top_values"] == (sorted(t.value for t in trials)[-6], max(t.value for t in trials))
    # the confirmed configurations differ in every knob at once: no question of one axis is asked of them
    assert not {s.title for s in sections} & {"Sigmoid or ReLU?", "Quadratic loss or cross-entropy?",
                                              "Which learning rate?"}
    assert any("questions of one axis" in m for m in missing)


def test_a_searched_best_near_an_end_of_its_range_is_flagged_and_one_at_a_hard_bound_is_not():
    from experiments.analysis.report import range_edges
    ranges = {"lr": {"low": 0.003, "high": 3.0, "log": True}, "l2": {"low": 0.1, "high": 300.0, "log": True},
              "momentum": {"low": 0.0, "high": 0.95, "log": False}, "lr_decay": {"low": 0.85, "high": 1.0}}
    best = pd.Series({"lr": 0.0035, "l2": 250.0, "momentum": 0.01, "lr_decay": 0.99})
    assert range_edges(best, ranges) == {"lr": "smallest", "l2": "largest"}  # momentum 0 and decay 1 are walls
    middle = pd.Series({"lr": 0.1, "l2": 5.0, "momentum": 0.5, "lr_decay": 0.9})
    assert range_edges(middle, ranges) == {}


def test_a_stopped_search_resumes_with_the_same_command(tmp_path):
    """A trial asked but not told (the command was killed while its run trained) is asked again,
    first, with the same params, and the search goes on to its count."""
    out = tmp_path / "out"
    args = ["search", "--batch", "2", "--confirm", "0", "--out", out, *SMALL]
    assert cli(*args, "--trials", "2").returncode == 0
    space = read_space("default", SMALL[1::2])
    study = open_study(ResultsDir(out), space, 0)
    stopped = study.ask()
    params = suggest(stopped, space)  # asked, never told: as if killed
    done = cli(*args, "--trials", "4")
    assert done.returncode == 0, done.stderr
    _, trials = trials_of(out)
    assert len(trials) == 4
    assert trials[2].params == {k: v for k, v in stopped.params.items()}  # asked again, first
    assert space.config(params).run_id in set(pd.read_csv(out / "runs.csv").run_id)


@pytest.mark.parametrize("text,named", [
    ("lr = {low = 1, high = 0.1}", ["lr", "low < high"]),
    ("l2 = {low = 0, high = 1, log = true}", ["l2", "log", "low > 0"]),
    ("lr = {low = 0.1}", ["lr", "high"]),
    ("seed = [0, 1]", ["seed", "one value"]),
    ("val_size = {low = 100, high = 500}", ["val_size", "one value"]),
    ("learning_rate = [0.1]", ["'learning_rate'"]),
    ("epochs = {low = 1.5, high = 3}", ["epochs", "integers"]),
    ("momentum = {low = 0.5, high = 1.5}", ["momentum", "1.5"]),
    ("dataset = [\"sample\"]", ["nothing to search"]),
])
def test_bad_search_spaces_are_one_line(tmp_path, text, named):
    path = tmp_path / "space.toml"
    path.write_text(text + "\n")
    one_line_error(cli("search", "--space", path, "--out", tmp_path / "out"), str(path), *named)
    assert not (tmp_path / "out").exists()


def test_a_choice_of_sizes_comes_back_from_the_study_as_the_same_configuration(tmp_path):
    """Optuna keeps a choice of sizes as text (784-32-10); a trial read back from the study, as a
    resumed search and its report read it, is the configuration it was trained as."""
    space = read_space("default", ["sizes=784-32-10,784-16-16-10", "lr=0.5"])
    study = open_study(ResultsDir(tmp_path), space, 0)
    for _ in range(4):
        trial = study.ask()
        params = suggest(trial, space)
        assert isinstance(trial.params["sizes"], str)
        assert space.config(trial.params) == space.config(params)
        assert space.config(params).sizes in ((784, 32, 10), (784, 16, 16, 10))
