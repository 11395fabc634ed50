"""inspect --report (the page that answers the questions, checked in a real browser) and
inspect --against (two results folders compared run for run)."""
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.helpers import cli, one_line_error, write_grid


@pytest.fixture(scope="module")
def reported(reference, tmp_path_factory):
    """A copy of the reference grid's folder (sigmoid; mse and ce; lr 0.1 and 0.5; both twins)
    with its report written."""
    _, ref = reference
    folder = tmp_path_factory.mktemp("reported") / "out"
    shutil.copytree(ref, folder)
    done = cli("inspect", folder, "--report")
    assert done.returncode == 0, done.stderr
    return folder


def test_the_report_answers_what_the_grid_varies_and_says_what_it_cannot(reported):
    text = (reported / "report.md").read_text()
    assert "## Quadratic loss or cross-entropy?" in text and "## Which learning rate?" in text
    assert "## Do the twins agree?" in text and "## The network at work" in text
    assert "## Sigmoid or ReLU?" not in text
    assert "Not answered here: Sigmoid or ReLU? (these runs use activation sigmoid only)" in text
    for image in ("report_loss", "report_lr_sweep", "report_parity", "report_network", "report_first_layer"):
        assert f"(plots/{image}.png)" in text and (reported / "plots" / f"{image}.png").stat().st_size > 5000


def test_the_reports_sentences_are_the_tables_numbers(reported):
    """The best loss, chosen on mean validation accuracy over seeds, and its test accuracy,
    computed here from runs.csv, are the ones the page states."""
    runs = pd.read_csv(reported / "runs.csv")
    scratch = runs[runs.impl == "scratch"]
    per_config = scratch.groupby(["loss", "lr"]).agg(val=("best_val_acc", "mean"), test=("test_acc_at_best", "mean"))
    best = per_config.groupby("loss").val.idxmax()
    chosen = per_config.loc[list(best)].sort_values("val", ascending=False)
    (top, _), (second, _) = chosen.index[:2]
    text = (reported / "report.md").read_text()
    assert f"the best loss is **{top}**: {100 * chosen.val.iloc[0]:.2f}% on the validation set against " \
           f"{100 * chosen.val.iloc[1]:.2f}% for the best loss {second} configuration" in text
    assert f"On the test set they reach {100 * chosen.test.iloc[0]:.2f}% and {100 * chosen.test.iloc[1]:.2f}%" in text
    calm = runs.pivot_table(index="run_id", columns="impl", values="final_test_acc")
    assert f"the final test accuracies are equal in {int((calm.scratch == calm.torch).sum())}" in text


def test_the_html_report_in_a_real_browser(reported, tmp_path):
    """Headless Chromium opens report.html from disk (no network): every image decodes, the page
    logs no console error, and a screenshot is saved."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium to open the report with: install Debian's chromium (.ci/run does)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright drives the browser; it comes with "
                                     "pip install -e '.[dev]'")
    html = (reported / "report.html").read_text()
    assert "src=\"plots/" not in html and html.count("data:image/png;base64,") == 5  # self-contained
    errors = []
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: errors.append(f"network request {request.url}")
                if not request.url.startswith(("file:", "data:")) else None)
        page.goto((reported / "report.html").as_uri())
        sizes = page.evaluate("""async () => Promise.all([...document.images].map(async (image) => {
            await image.decode(); return [image.naturalWidth, image.naturalHeight]; }))""")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        chromium.close()
    assert len(sizes) == 5 and all(w > 200 and h > 200 for w, h in sizes)
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_a_grid_without_validation_chooses_nothing(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.1, 0.5], epochs=[1], val_size=[0])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    done = cli("inspect", tmp_path / "out", "--report", "--plot")
    assert done.returncode == 0, done.stderr
    assert "no validation split in these runs (val_size 0): nothing is chosen" in done.stdout
    text = (tmp_path / "out" / "report.md").read_text()
    assert "no validation set (val_size 0), so nothing below is chosen" in text
    assert "Which learning rate? (no validation split to choose on)" in text and "## The best" not in text


def test_a_folder_of_failed_and_diverged_runs_reports_without_breaking(tmp_path, monkeypatch, capsys):
    """Every run failed (a unit that raised) or diverged at once: the tables, plots and report
    say so instead of choosing."""
    from experiments.cli.main import main
    from experiments.execution import workers
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], activation=["relu"], loss=["ce"], lr=[1e300],
                      epochs=[2], seed=[0, 1])
    real = workers.run_unit

    def failing_for_seed_0(unit, *args, **kwargs):
        if unit[0].seed == 0:
            raise RuntimeError("out of luck")
        return real(unit, *args, **kwargs)
    monkeypatch.setattr(workers, "run_unit", failing_for_seed_0)
    assert main(["run", "--grid", str(grid), "--out", str(tmp_path / "out")]) == 1  # seed 0 failed
    monkeypatch.undo()
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs.status) == ["diverged", "failed"]
    assert main(["inspect", str(tmp_path / "out"), "--plot", "--report"]) == 0
    out = capsys.readouterr().out
    best = out.split("Best configuration")[1]  # a diverged epoch is no candidate: nothing is chosen
    assert "relu" not in best and "nothing to choose from" in best
    text = (tmp_path / "out" / "report.md").read_text()
    assert "1 diverged" in text and "1 failed" in text


def test_a_grid_that_varies_a_setting_answers_each_setting_apart(tmp_path):
    """Runs in float32 and float64 are never pooled: each question is answered once per dtype,
    from that dtype's runs alone."""
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1], dtype=["float32", "float64"])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    done = cli("inspect", tmp_path / "out", "--report")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "report.md").read_text()
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    for dtype in ("float32", "float64"):
        assert f"## Quadratic loss or cross-entropy? (dtype {dtype})" in text
        assert f"## Which learning rate? (dtype {dtype})" in text
        assert (tmp_path / "out" / "plots" / f"report_lr_sweep_dtype-{dtype}.png").exists()
        mine = runs[runs.dtype == dtype]
        top = mine.loc[mine.best_val_acc.idxmax()]
        section = text.split(f"## Quadratic loss or cross-entropy? (dtype {dtype})")[1].split("##")[0]
        assert f"the best loss is **{top.loss}**: {100 * top.best_val_acc:.2f}% on the validation set" in section


def test_twins_on_two_devices_meet_in_the_parity_table(reference, tmp_path):
    """A grid with torch on cuda (its device column; scratch stays on cpu) pairs its twins as a
    cpu grid does."""
    from experiments.analysis.tables import load, parity
    _, ref = reference
    shutil.copytree(ref, tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    runs.loc[runs.impl == "torch", "device"] = "cuda"
    runs.to_csv(tmp_path / "out" / "runs.csv", index=False)
    table = parity(*load(tmp_path / "out"))
    assert len(table) == 4 and "device" not in table.columns
    done = cli("inspect", tmp_path / "out")
    assert "scratch, lr 0.1" in done.stdout and "(rows: activation, loss; columns: impl, lr)" in done.stdout


def test_a_grid_of_one_activation_and_one_rate_answers_less(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5], epochs=[1], seed=[0, 1])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    done = cli("inspect", tmp_path / "out", "--report")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Quadratic loss or cross-entropy?" in text
    for missing in ("Sigmoid or ReLU? (these runs use activation sigmoid only)",
                    "Which learning rate? (these runs use lr 0.5 only)", "Do the twins agree? (only scratch ran)"):
        assert missing in text


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


def test_figures_of_the_best_run_need_the_data_it_was_made_with(reference, tmp_path):
    """A folder whose manifest records other data than the data root now holds (its checksum):
    --plot refuses with one line, and the report leaves the figure out, saying why."""
    import json
    _, ref = reference
    folder = tmp_path / "out"
    shutil.copytree(ref, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["data"]["sample"]["checksum"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(cli("inspect", folder, "--plot"), "sample", str(folder))
    done = cli("inspect", folder, "--report")
    assert done.returncode == 0, done.stderr
    text = (folder / "report.md").read_text()
    assert "## The network at work" not in text
    assert line.split("error: ")[1] in text.split("Not answered here:")[1]  # the same reason, on the page


def test_weights_that_are_not_numbers_are_not_drawn(reference, tmp_path):
    """An ok run's parameter file changed to hold NaN: --plot refuses with one line naming it,
    and the report leaves the network out, saying why."""
    _, ref = reference
    folder = tmp_path / "out"
    shutil.copytree(ref, folder)
    for path in (folder / "params").iterdir():
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["W1"][0, 0] = np.nan
        np.savez(path, **arrays)
    done = cli("inspect", folder, "--plot")
    assert done.returncode == 2 and "holds weights that are not finite numbers" in done.stderr
    assert cli("inspect", folder, "--report").returncode == 0
    text = (folder / "report.md").read_text()
    assert "holds weights that are not finite numbers" in text and "## The network at work" not in text


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


def test_runs_without_a_validation_split_beside_others_choose_nothing(tmp_path):
    """val_size 0 and 100 in one folder: the runs without a split are named and left out of the
    answers, which come from the others."""
    done = cli("run", "--set", "activation=relu", "--set", "loss=ce", "--set", "lr=0.1", "--set", "seed=0",
               "--set", "epochs=1", "--set", "val_size=0,100", "--set", "impl=scratch", "--set", "l2=0,0.1",
               "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    done = cli("inspect", tmp_path / "out", "--report")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "report.md").read_text()
    assert "The 2 runs without a validation split (val_size 0) choose nothing" in text
    assert "## Which L2 strength? (val_size 100)" in text and "(val_size 0)" not in text.split("## The best")[1]
