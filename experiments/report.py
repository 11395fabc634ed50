"""inspect --report: one page per results folder that answers the questions its grid can answer.

    Sigmoid or ReLU?                      when the runs vary the activation
    Quadratic loss or cross-entropy?      when they vary the loss
    Which learning rate?                  when they vary the learning rate
    Do the twins agree?                   when both implementations ran
    The network at work                   when the best run's parameters are in the folder

Each section is a figure and sentences computed from the tables, never written by hand. Every
"best" is chosen on validation accuracy (each run at its best epoch, averaged over seeds) and
reports the test accuracy of what was chosen. The page is written twice: report.md, whose
figures are the PNG files beside it, and report.html, self-contained (figures inlined).
"""
import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments import plots
from experiments.tables import HYPER, QUESTIONS, SETTINGS, label, load, parity, render, varying

CHANCE = 0.2  # a final test accuracy below this is "near chance" (0.1 for ten digits)
CHAOTIC = 1e-6  # twins whose train_loss parts by more than this, relative, have left rounding behind


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) | ("table", DataFrame) | ("figure", path, caption)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: pd.DataFrame) -> None:
        self.blocks.append(("table", table))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("figure", path, caption))


def pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def reference_impl(runs: pd.DataFrame) -> str:
    return "scratch" if "scratch" in set(runs.impl) else runs.impl.iloc[0]


def chosen(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by`, the configuration with the best mean validation accuracy over seeds:
    its hyperparameters, mean best_val_acc, test_acc_at_best mean and std, and seeds."""
    ok = runs[(runs.status != "failed") & runs.best_val_acc.notna()]
    hyper = [h for h in dict.fromkeys(["lr", *varying(ok, HYPER, within=QUESTIONS)]) if h not in by]
    other = [q for q in QUESTIONS if q not in by]
    stats = ok.groupby(by + other + hyper, dropna=False).agg(
        val=("best_val_acc", "mean"), test=("test_acc_at_best", "mean"), test_std=("test_acc_at_best", "std"),
        seeds=("seed", "nunique")).reset_index().fillna({"test_std": 0.0})
    stats = stats.sort_values("val", ascending=False, kind="stable")
    return stats.groupby(by, sort=False).head(1).set_index(by)


def setting_of(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k} {label(row[k])}" for k in keys if k in row and not pd.isna(row[k]))


def question(runs: pd.DataFrame, axis: str, title: str, folder: Path, groups: dict[str, list] | None = None) -> Section:
    """Best of each choice of `axis`, the difference against the spread over seeds, and how the
    answer depends on the learning rate."""
    section = Section(title)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    best = chosen(mine, [axis])
    hyper = [c for c in best.columns if c not in ("val", "test", "test_std", "seeds")]
    rows = []
    for value, row in best.sort_values("val", ascending=False).iterrows():
        rows.append({axis: value, "chosen configuration": setting_of(row, hyper), "validation": pct(row.val),
                     "test (mean ± std over seeds)": f"{pct(row.test)} ± {pct(row.test_std)}", "seeds": int(row.seeds)})
    section.table(pd.DataFrame(rows))
    ordered = best.sort_values("val", ascending=False)
    (top, a), (second, b) = list(ordered.iterrows())[:2]
    diff = a.test - b.test
    spread = max(a.test_std, b.test_std)
    verdict = "larger than" if abs(diff) > spread else "within"
    section.p(f"Chosen on validation accuracy ({impl} runs), the best {axis} is **{top}**: {pct(a.val)} on the "
              f"validation set against {pct(b.val)} for the best {second} configuration. On the test set they reach "
              f"{pct(a.test)} and {pct(b.test)}, a difference of {100 * diff:+.2f} points, {verdict} the spread over "
              f"seeds (the larger standard deviation of the two, {100 * spread:.2f} points).")
    if mine.lr.nunique() > 1:
        per_lr = chosen(mine, [axis, "lr"]).reset_index()
        table = per_lr.pivot(index="lr", columns=axis, values="test")
        leader = table.idxmax(axis=1)
        spans = []
        for value in table.columns:
            rates = [label(lr) for lr in leader.index[leader == value]]
            if rates:
                spans.append(f"{value} at lr {', '.join(rates)}")
        section.p("At each learning rate, the best configuration of each choice (chosen on validation) reaches the "
                  f"test accuracies of the figure; ahead on the test set: {'; '.join(spans)}.")
        section.figure(per_lr_figure(table, axis, folder / "plots" / f"report_{axis}.png"),
                       f"Test accuracy of the best {axis} choice at each learning rate (chosen on validation)")
    return section


def per_lr_figure(table: pd.DataFrame, axis: str, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for value in table.columns:
        ax.plot(table.index, table[value], marker="o", label=f"{axis} {value}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy at the best epoch")
    ax.set_title(f"The best of each {axis} at each learning rate (chosen on validation)", fontsize=9)
    ax.legend(fontsize=8)
    return plots.save(fig, path)


def learning_rates(runs: pd.DataFrame, folder: Path) -> Section:
    section = Section("Which learning rate?")
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    rows, widths = [], []
    for (activation, loss), group in mine.groupby(QUESTIONS):
        per_lr = group[group.status != "failed"].groupby("lr").agg(
            val=("best_val_acc", "mean"), val_std=("best_val_acc", "std"), test=("test_acc_at_best", "mean"),
            final=("final_test_acc", "mean"), diverged=("status", lambda s: (s == "diverged").sum())).fillna(
            {"val_std": 0.0})
        best_lr = per_lr.val.idxmax()
        close = per_lr.index[per_lr.val >= per_lr.val[best_lr] - per_lr.val_std[best_lr]]
        broken = per_lr.index[(per_lr.diverged > 0) | (per_lr.final < CHANCE)]
        widths.append(len(close))
        rows.append({"activation": activation, "loss": loss, "best lr (validation)": label(best_lr),
                     "within one seed-spread of it": f"{label(close.min())} to {label(close.max())}"
                     if len(close) > 1 else "none other",
                     "test accuracy there": pct(per_lr.test[best_lr]),
                     "breaks down from": label(broken.min()) if len(broken) else "not in this grid"})
    table = pd.DataFrame(rows)
    section.table(table)
    widest = table.iloc[max(range(len(widths)), key=widths.__getitem__)] if max(widths) > 1 else None
    broken = table[table["breaks down from"] != "not in this grid"]
    section.p(f"For each activation and loss, the learning rate with the best mean validation accuracy ({impl} runs, "
              "over seeds), the rates whose mean validation accuracy is within one standard deviation over seeds of "
              "it, and the smallest rate at which a run diverged or ended near chance (final test accuracy below "
              f"{pct(CHANCE)}). {len(broken)} of the {len(table)} pairs break down inside the grid"
              + (f"; the rate matters least for {widest.activation}/{widest.loss} ({max(widths)} rates within one "
                 "seed-spread of its best)." if widest is not None else "."))
    section.figure(plots.lr_sweep(runs, folder / "plots" / "report_lr_sweep.png"),
                   "Final test accuracy against the learning rate, one panel per loss")
    return section


def twins(runs: pd.DataFrame, epochs: pd.DataFrame, folder: Path) -> Section:
    section = Section("Do the twins agree?")
    table = parity(runs, epochs)
    for dtype in sorted(runs.dtype.unique()):
        ids = set(runs[runs.dtype == dtype].run_id)
        part = table[table.run_id.isin(ids)]
        if part.empty:
            continue
        calm = part[part.max_rel_train_loss_diff <= CHAOTIC]
        wild = part[part.max_rel_train_loss_diff > CHAOTIC]
        text = (f"In {dtype}, {len(part)} configurations ran in both twins, from the same weights on the same "
                f"mini-batches. In {len(calm)} of them the training losses agree to {CHAOTIC:g} relative at every "
                f"epoch (the largest gap {calm.max_rel_train_loss_diff.max():.1e})"
                if len(calm) else f"In {dtype}, {len(part)} configurations ran in both twins")
        text += f", and the final test accuracies are equal in {int((part.test_acc_diff == 0).sum())}."
        if len(wild):
            named = "; ".join(f"{r.activation}/{r.loss} lr {label(r.lr)} seed {r.seed}" for r in wild.itertuples())
            text += (f" {len(wild)} part further, all at lr {label(wild.lr.min())} or more: {named}. These runs are "
                     "chaotic: NumPy and torch round a few operations differently (1e-16 in float64, 1e-7 in float32), "
                     "and at large rates such a difference grows with every step until the trajectories part, as in "
                     "any chaotic system; the gradients themselves agree to 1e-15 (gradcheck).")
        section.p(text)
    section.figure(parity_figure(table, folder / "plots" / "report_parity.png"),
                   "The largest relative gap in training loss between the twins, per configuration")
    return section


def parity_figure(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for (activation, loss), group in table.groupby(QUESTIONS):
        ax.scatter(group.lr, group.max_rel_train_loss_diff.clip(lower=1e-17), label=f"{activation}/{loss}", s=18)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(CHAOTIC, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("max |scratch - torch| / torch, train_loss")
    ax.set_title("How far the twins part (zero drawn at 1e-17)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return plots.save(fig, path)


def network(runs: pd.DataFrame, folder: Path, data_root: str | None) -> Section | str:
    """The best run at work on a test digit, or why it cannot be drawn."""
    from experiments.data import load_dataset
    from experiments.errors import UsageError
    run = plots.best_run(runs)
    params = folder / "params" / f"{run.run_id}-{run.impl}.npz"
    if not params.exists():
        return f"The network at work: the best run's parameters ({params.name}) are not in {folder}/params"
    try:
        test = load_dataset(run.dataset, data_root).arrays("float64")["test"]
    except UsageError as e:
        return f"The network at work: the {run.dataset} data is not available here ({e})"
    section = Section("The network at work")
    image, digit = test.x[0], int(test.labels[0])
    section.figure(plots.network_at_work(run, params, image, digit, folder / "plots" / "report_network.png"),
                   f"The first test image, a {digit}, through the best run")
    section.figure(plots.first_layer(run, params, folder / "plots" / "report_first_layer.png"),
                   "What each neuron of the first hidden layer looks for")
    section.p(f"The best run, chosen on validation accuracy ({pct(run.best_val_acc)} at epoch "
              f"{int(run.best_epoch)}), "
              f"is {plots.describe(run)}; its test accuracy there is {pct(run.test_acc_at_best)}. Its first hidden "
              "layer's neurons each weigh the 784 pixels: red where ink raises the neuron's input, blue where it "
              "lowers it.")
    return section


def build(folder: Path, data_root: str | None = None) -> tuple[str, list[Section], list[str]]:
    """(the page's introduction, its sections, the questions this folder cannot answer and why)."""
    runs, epochs = load(folder)
    ok = runs[runs.status != "failed"]
    settings = {k: sorted(map(label, runs[k].unique())) for k in SETTINGS}
    counts = runs.status.value_counts().to_dict()
    intro = (f"{len(runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}) on "
             f"{', '.join(settings['dataset'])}, sizes {', '.join(settings['sizes'])}, {', '.join(settings['dtype'])}, "
             f"{runs.seed.nunique()} seed(s). Every choice below is made on the validation set ("
             f"{', '.join(settings['val_size'])} images held out of training); the test set is only reported.")
    sections, missing = [], []
    has_val = ok.best_val_acc.notna().any()
    for axis, title in (("activation", "Sigmoid or ReLU?"), ("loss", "Quadratic loss or cross-entropy?")):
        if ok[axis].nunique() > 1 and has_val:
            sections.append(question(ok, axis, title, folder))
        else:
            missing.append(f"{title} (these runs use {axis} {', '.join(sorted(ok[axis].unique()))} only)"
                           if has_val else f"{title} (no validation split to choose on)")
    if ok.lr.nunique() > 1 and has_val:
        sections.append(learning_rates(ok, folder))
    else:
        missing.append(f"Which learning rate? (these runs use lr {', '.join(map(label, sorted(ok.lr.unique())))} only)")
    if {"scratch", "torch"} <= set(ok.impl):
        sections.append(twins(ok, epochs, folder))
    else:
        missing.append(f"Do the twins agree? (only {', '.join(sorted(ok.impl.unique()))} ran)")
    drawn = network(ok, folder, data_root)
    if isinstance(drawn, str):
        missing.append(drawn)
    else:
        sections.append(drawn)
    return intro, sections, missing


def markdown(folder: Path, intro: str, sections: list[Section], missing: list[str]) -> str:
    out = [f"# What {folder.name} answers", "", intro, ""]
    if missing:
        out += ["Not answered here: " + "; ".join(missing) + ".", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for kind, *rest in section.blocks:
            if kind == "p":
                out += [rest[0], ""]
            elif kind == "table":
                out += [render(rest[0], "markdown", index=False), ""]
            else:
                path, caption = rest
                out += [f"![{caption}]({path.relative_to(folder).as_posix()})", ""]
    return "\n".join(out)


def inline(text: str) -> str:
    """Markdown's **bold** as HTML, the rest escaped."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if k % 2 else p for k, p in enumerate(parts))


def page(folder: Path, intro: str, sections: list[Section], missing: list[str]) -> str:
    body = [f"<h1>What {html.escape(folder.name)} answers</h1>", f"<p>{inline(intro)}</p>"]
    if missing:
        body.append(f"<p class=note>Not answered here: {inline('; '.join(missing))}.</p>")
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for kind, *rest in section.blocks:
            if kind == "p":
                body.append(f"<p>{inline(rest[0])}</p>")
            elif kind == "table":
                body.append(rest[0].to_html(index=False, border=0, classes="table"))
            else:
                path, caption = rest
                data = base64.b64encode(path.read_bytes()).decode()
                body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;"
             "text-align:left}img{max-width:100%}figcaption{color:#555;font-size:.9rem}.note{color:#555}")
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(folder.name)}: report"
            f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(folder: str | Path, data_root: str | None = None) -> list[Path]:
    from experiments.errors import UsageError
    from experiments.results import ResultsDir
    folder = Path(folder)
    try:
        (folder / "plots").mkdir(exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write to {folder / 'plots'} ({e.strerror}); check the folder's permissions") from None
    intro, sections, missing = build(folder, data_root)
    results = ResultsDir(folder)
    written = [folder / "report.md", folder / "report.html"]
    results.replace(written[0], markdown(folder, intro, sections, missing).encode())
    results.replace(written[1], page(folder, intro, sections, missing).encode())
    return written


