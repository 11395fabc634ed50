"""inspect --report: the page that answers the questions a folder's runs can answer. Checked on
the numbers behind its sentences (each section's facts), against the tables computed here; the
wording itself is one snapshot (test_snapshots.py). The HTML page in a real browser, its "Try it"
canvas included."""
import base64
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.analysis.report import beyond, build
from tests.helpers import cli, one_line_error, write_grid


@pytest.fixture(scope="module")
def seeds3(tmp_path_factory):
    """sigmoid and relu, mse and ce, lr 0.1 and 0.5, 3 seeds, scratch, 2 epochs: 24 runs whose
    comparisons are paired over 3 seeds; its report written."""
    folder = tmp_path_factory.mktemp("seeds3")
    grid = write_grid(folder / "grid.toml", activation=["sigmoid", "relu"], impl=["scratch"], seed=[0, 1, 2])
    assert cli("run", "--grid", grid, "--out", folder / "out").returncode == 0
    done = cli("inspect", folder / "out", "--report")
    assert done.returncode == 0, done.stderr
    return folder / "out"


@pytest.fixture(scope="module")
def reported(reference, tmp_path_factory):
    """A copy of the reference grid's folder (sigmoid; mse and ce; lr 0.1 and 0.5; both twins; one
    seed) with its report written."""
    _, ref = reference
    folder = tmp_path_factory.mktemp("reported") / "out"
    shutil.copytree(ref, folder)
    done = cli("inspect", folder, "--report")
    assert done.returncode == 0, done.stderr
    return folder


def sections_of(folder):
    intro, sections, missing = build(folder)
    return {s.title: s for s in sections}, missing


def test_the_report_answers_what_the_grid_varies_and_says_what_it_cannot(reported):
    sections, missing = sections_of(reported)
    assert set(sections) == {"The best configuration", "Quadratic loss or cross-entropy?", "Which learning rate?",
                             "Do the twins agree?", "The network at work"}
    assert [m.split(" (")[0] for m in missing] == ["Sigmoid or ReLU?"]
    for image in ("report_loss", "report_lr_sweep", "report_parity", "report_network", "report_first_layer"):
        assert (reported / "plots" / f"{image}.png").stat().st_size > 5000


def seed_values(runs: pd.DataFrame, **where) -> pd.Series:
    mine = runs
    for key, value in where.items():
        mine = mine[mine[key] == value]
    return mine.set_index("seed").test_acc_at_best.sort_index()


def test_a_question_states_the_paired_difference_and_its_verdict(seeds3):
    """Sigmoid or ReLU: the best of each, chosen on mean validation accuracy (computed here), and
    the difference of their test accuracies with the paired t interval of scipy's ttest_rel."""
    runs = pd.read_csv(seeds3 / "runs.csv")
    mean_val = runs.groupby(["activation", "loss", "lr"]).best_val_acc.mean()
    best = mean_val.groupby("activation").idxmax()
    order = mean_val[list(best)].sort_values(ascending=False).index
    (a_act, a_loss, a_lr), (b_act, b_loss, b_lr) = order
    a = seed_values(runs, activation=a_act, loss=a_loss, lr=a_lr)
    b = seed_values(runs, activation=b_act, loss=b_loss, lr=b_lr)
    reference = stats.ttest_rel(a, b).confidence_interval(0.95)
    sections, _ = sections_of(seeds3)
    facts = sections["Sigmoid or ReLU?"].facts
    assert facts["best"] == a_act
    d = facts["differences"][b_act]
    assert d.paired and d.n == 3
    assert d.mean == pytest.approx((a - b).mean(), abs=1e-12)
    assert (d.low, d.high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert d.verdict == ("A" if d.low > 0 else "B" if d.high < 0 else "tie")


def test_the_best_configuration_carries_its_interval(seeds3):
    runs = pd.read_csv(seeds3 / "runs.csv")
    sections, _ = sections_of(seeds3)
    best = sections["The best configuration"].facts["best"]
    mine = seed_values(runs, activation=best.activation, loss=best.loss, lr=best.lr)
    t = stats.t.ppf(0.975, len(mine) - 1)
    assert best.test_acc_at_best == pytest.approx(mine.mean())
    assert best.test_low == pytest.approx(mine.mean() - t * mine.std(ddof=1) / math.sqrt(len(mine)))
    assert f"{100 * mine.mean():.2f}% ± {100 * (mine.mean() - best.test_low):.2f}" in \
        (seeds3 / "report.md").read_text()


def test_an_optimum_on_the_edge_of_the_grid_is_flagged(tmp_path):
    """Rates far too small for two epochs: the largest one tried is the best, and the report says
    to widen the lr axis; l2, chosen at its smallest possible value (0), is no edge."""
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], activation=["relu"], loss=["ce"], lr=[0.003, 0.01],
                      l2=[0.0, 0.5], seed=[0, 1])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    sections, _ = sections_of(tmp_path / "out")
    facts = sections["The best configuration"].facts
    assert facts["best"].lr == 0.01 and facts["edges"]["lr"] == "largest"
    assert "l2" not in facts["edges"] or facts["best"].l2 == 0.5
    page = "".join(text for kind, text, *_ in sections["The best configuration"].blocks if kind == "p")
    assert "lr 0.01 is the largest lr the runs tried" in page and "(for example to 0.03)" in page


@pytest.mark.parametrize("axis,value,side,past", [("lr", 0.01, "smallest", "0.0033"),
                                                  ("l2", 40.0, "largest", "120"),
                                                  ("momentum", 0.5, "largest", "0.75"),
                                                  ("epochs", 30, "largest", "60")])
def test_the_value_past_an_edge_reads_as_a_number_one_would_type(axis, value, side, past):
    assert beyond(axis, value, side) == past


def test_the_html_report_in_a_real_browser_and_its_try_it_canvas(reported, tmp_path):
    """Headless Chromium opens report.html from disk (no network): every image decodes, the page
    logs no error; a digit drawn with the mouse on its canvas is read as `predict` reads the
    canvas saved as PNG, to 1/255 per input pixel and 1e-9 per output."""
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
        page.locator("canvas.tryit-draw").scroll_into_view_if_needed()
        box = page.locator("canvas.tryit-draw").bounding_box()
        stroke = [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]  # a 7
        page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        page.mouse.down()
        for fx, fy in stroke[1:]:
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
        page.mouse.up()
        seen = np.array(page.evaluate("window.tryit.input"))
        outputs = np.array(page.evaluate("window.tryit.outputs"))
        data = page.evaluate("window.tryit.toDataURL()").split(",", 1)[1]
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        chromium.close()
    assert len(sizes) == 5 and all(w > 200 and h > 200 for w, h in sizes)
    assert errors == []
    (tmp_path / "drawn.png").write_bytes(base64.b64decode(data))
    done = cli("predict", tmp_path / "drawn.png", "--model", reported, "--format", "csv",
               "--show", tmp_path / "seen.png")
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    predicted = np.array([float(v) for v in row.split(",")[2:]])
    assert int(row.split(",")[1]) == int(np.argmax(outputs))
    np.testing.assert_allclose(outputs, predicted, rtol=0, atol=1e-9)
    from experiments.tools.drawn_digits import as_input, prepare, read_image
    np.testing.assert_allclose(seen, as_input(prepare(read_image(tmp_path / "drawn.png"))), rtol=0, atol=1 / 255)
    assert seen.max() == 1.0 and (seen > 0).sum() > 30  # a stroke, not a blank
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_a_grid_without_validation_chooses_nothing(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.1, 0.5], epochs=[1], val_size=[0])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    done = cli("inspect", tmp_path / "out", "--report", "--plot")
    assert done.returncode == 0, done.stderr
    best = done.stdout.split("Best configuration")[1]
    assert "val_size 0" in best and "scratch" not in best  # a note, no table
    sections, missing = sections_of(tmp_path / "out")
    assert set(sections) == {"Do the twins agree?"} - {"Do the twins agree?"}  # nothing chosen, nothing answered
    assert {m.split(" (")[0] for m in missing} >= {"Which learning rate?", "Quadratic loss or cross-entropy?"}


def test_a_folder_of_failed_and_diverged_runs_reports_without_breaking(tmp_path, monkeypatch):
    """Every run failed (a unit that raised) or diverged at once: the tables, plots and report
    say so instead of choosing."""
    from experiments.execution import workers
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], activation=["relu"], loss=["ce"], lr=[1e300],
                      epochs=[2], seed=[0, 1])
    real = workers.run_unit

    def failing_for_seed_0(unit, *args, **kwargs):
        if unit[0].seed == 0:
            raise RuntimeError("out of luck")
        return real(unit, *args, **kwargs)
    monkeypatch.setattr(workers, "run_unit", failing_for_seed_0)
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 1  # seed 0 failed
    monkeypatch.undo()
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs.status) == ["diverged", "failed"]
    done = cli("inspect", tmp_path / "out", "--plot", "--report")
    assert done.returncode == 0, done.stderr
    best = done.stdout.split("Best configuration")[1]  # a diverged epoch is no candidate: nothing is chosen
    assert "relu" not in best
    assert sections_of(tmp_path / "out")[0] == {}


def test_a_grid_that_varies_a_setting_answers_each_setting_apart(tmp_path):
    """Runs in float32 and float64 are never pooled: each question is answered once per dtype,
    from that dtype's runs alone."""
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1], dtype=["float32", "float64"])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    sections, _ = sections_of(tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    for dtype in ("float32", "float64"):
        assert f"Which learning rate? (dtype {dtype})" in sections
        assert (tmp_path / "out" / "plots" / f"report_lr_sweep_dtype-{dtype}.png").exists()
        mine = runs[runs.dtype == dtype]
        assert sections[f"Quadratic loss or cross-entropy? (dtype {dtype})"].facts["best"] == \
            mine.loc[mine.best_val_acc.idxmax()].loss


def test_twins_on_two_devices_meet_in_the_parity_table(reference, tmp_path):
    """A grid with torch on cuda (its device column; scratch stays on cpu) pairs its twins as a
    cpu grid does."""
    from experiments.analysis.selection import load
    from experiments.analysis.tables import parity
    _, ref = reference
    shutil.copytree(ref, tmp_path / "out")
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    runs.loc[runs.impl == "torch", "device"] = "cuda"
    runs.to_csv(tmp_path / "out" / "runs.csv", index=False)
    table = parity(*load(tmp_path / "out"))
    assert len(table) == 4 and "device" not in table.columns


def test_a_grid_of_one_activation_and_one_rate_answers_less(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5], epochs=[1], seed=[0, 1])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    sections, missing = sections_of(tmp_path / "out")
    assert "Quadratic loss or cross-entropy?" in sections
    assert {m.split(" (")[0] for m in missing} == {"Sigmoid or ReLU?", "Which learning rate?", "Do the twins agree?"}


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
    sections, missing = sections_of(folder)
    assert "The network at work" not in sections
    assert any(line.split("error: ")[1] in m for m in missing)  # the same reason, on the page


def test_weights_that_are_not_numbers_are_not_drawn(reference, tmp_path):
    """The chosen network's parameter file changed to hold NaN: --plot refuses with one line
    naming it, and the report leaves the network out, saying why."""
    _, ref = reference
    folder = tmp_path / "out"
    shutil.copytree(ref, folder)
    for path in (folder / "params").iterdir():
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["W1"][0, 0] = np.nan
        np.savez(path, **arrays)
    line = one_line_error(cli("inspect", folder, "--plot"), "-best.npz", "not finite")
    sections, missing = sections_of(folder)
    assert "The network at work" not in sections and any(line.split("error: ")[1] in m for m in missing)


def test_runs_without_a_validation_split_beside_others_choose_nothing(tmp_path):
    """val_size 0 and 100 in one folder: the runs without a split are named and left out of the
    answers, which come from the others."""
    done = cli("run", "--set", "activation=relu", "--set", "loss=ce", "--set", "lr=0.1", "--set", "seed=0",
               "--set", "epochs=1", "--set", "val_size=0,100", "--set", "impl=scratch", "--set", "l2=0,0.1",
               "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    sections, _ = sections_of(tmp_path / "out")
    assert "Which L2 strength? (val_size 100)" in sections and not [t for t in sections if "val_size 0" in t]


def test_a_configuration_pays_for_the_seeds_it_lost_to_divergence():
    """A seed that diverged before its first epoch counts at the accuracy its network ended with,
    not as a seed that never ran: 96% and a lost seed is no better than 95% twice. A configuration
    that lost every seed so has no network to choose, and is no candidate."""
    from experiments.analysis.selection import chosen, configurations
    from experiments.execution.training import failed_row
    from experiments.spec.config import RunConfig

    def run(lr, seed, best_val_acc, status="ok"):
        row = failed_row(RunConfig(impl="scratch", lr=lr, seed=seed))
        return {**row, "status": status, "best_val_acc": best_val_acc, "test_acc_at_best": best_val_acc,
                "final_val_acc": 0.1 if math.isnan(best_val_acc) else best_val_acc, "final_test_acc": 0.1,
                "best_epoch": math.nan if math.isnan(best_val_acc) else 3}
    runs = pd.DataFrame([run(0.5, 0, 0.95), run(0.5, 1, 0.95), run(3.0, 0, 0.96), run(3.0, 1, math.nan, "diverged"),
                         run(9.0, 0, math.nan, "diverged"), run(9.0, 1, math.nan, "diverged")])
    table = configurations(runs)
    assert list(table.lr) == [0.5, 3.0] and table.best_val_acc.iloc[1] == pytest.approx((0.96 + 0.1) / 2)
    assert table.diverged.iloc[1] == 1 and table.seeds.iloc[1] == 2
    assert chosen(runs, []).lr.iloc[0] == 0.5
    lone = configurations(pd.DataFrame([run(0.5, 0, 0.95)]))
    assert lone.test_low.isna().all() and lone.test_high.isna().all()  # one seed: no interval
    wide = configurations(pd.DataFrame([run(0.5, 0, 0.999), run(0.5, 1, 0.9)]))
    assert wide.test_high.iloc[0] == 1.0 and 0.3 < wide.test_low.iloc[0] < 0.33  # t on one degree of freedom, clipped
