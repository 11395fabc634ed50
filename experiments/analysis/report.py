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

from experiments.analysis import plots
from experiments.analysis.selection import chosen, chosen_network, configurations, label, load, varying
from experiments.analysis.tables import parity, render
from experiments.errors import UsageError
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS
from experiments.store.files import make_folder, why, write_atomic

KNOB_QUESTIONS = {"l2": "Which L2 strength?", "momentum": "Which momentum?", "lr_decay": "Which learning-rate decay?",
                  "batch_size": "Which batch size?", "init": "Which initialisation?", "epochs": "How many epochs?"}
CHANCE = 0.2  # a final test accuracy below this is "near chance" (0.1 for ten digits)
CHAOTIC = 1e-6  # twins whose train_loss parts by more than this, relative, have left rounding behind


@dataclass
class Section:
    """A question's answer: paragraphs, tables and figures; or, when the folder cannot answer it,
    the reason (`unanswered`), listed at the top of the page."""
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) | ("table", DataFrame) | ("figure", path, caption)
    unanswered: str | None = None

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


def setting_of(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k} {label(row[k])}" for k in keys if k in row and not pd.isna(row[k]))


def spread(mean: float, std: float, seeds: int) -> str:
    """`mean% ± std%` over seeds, or the value alone for one seed."""
    return pct(mean) if seeds < 2 or pd.isna(std) else f"{pct(mean)} ± {pct(std)}"


def others(runs: pd.DataFrame, axis: str) -> list[str]:
    """The axes a best configuration chooses besides `axis`: the other question, and every
    hyperparameter the runs vary."""
    return [c for c in dict.fromkeys([*QUESTIONS, "lr", *varying(runs, KNOBS, within=QUESTIONS)]) if c != axis]


def question(runs: pd.DataFrame, axis: str, title: str, folder: Path, tag: str = "") -> Section:
    """Best of each choice of `axis`, the difference against the spread over seeds, and how the
    answer depends on the learning rate."""
    section = Section(title)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    best = chosen(mine, [axis])
    hyper = others(mine, axis)
    section.table(pd.DataFrame([{axis: label(row[axis]), "chosen configuration": setting_of(row, hyper),
                                 "validation": pct(row.best_val_acc),
                                 "test (mean ± std over seeds)": spread(row.test_acc_at_best, row.test_std, row.seeds),
                                 "seeds": int(row.seeds)} for _, row in best.iterrows()]))
    if len(best) < 2:
        section.p(f"Only {axis} {label(best[axis].iloc[0])} has runs with a validation accuracy.")
        return section
    a, b = best.iloc[0], best.iloc[1]
    diff = a.test_acc_at_best - b.test_acc_at_best
    text = (f"Chosen on validation accuracy ({impl} runs), the best {axis} is **{label(a[axis])}**: "
            f"{pct(a.best_val_acc)} on the validation set against {pct(b.best_val_acc)} for the best {axis} "
            f"{label(b[axis])} configuration. On the test set they reach {pct(a.test_acc_at_best)} and "
            f"{pct(b.test_acc_at_best)}, a difference of {100 * diff:+.2f} points")
    if min(a.seeds, b.seeds) >= 2:
        width = max(a.test_std, b.test_std)
        verdict = "larger than" if abs(diff) > width else "within"
        text += (f", {verdict} the spread over seeds (the larger standard deviation of the two, "
                 f"{100 * width:.2f} points).")
    else:
        text += "; with one seed, there is no spread over seeds to compare it with."
    section.p(text)
    if mine.lr.nunique() > 1:
        table = chosen(mine, [axis, "lr"]).pivot(index="lr", columns=axis, values="test_acc_at_best")
        leader = table.idxmax(axis=1)
        spans = [f"{label(value)} at lr {', '.join(label(lr) for lr in leader.index[leader == value])}"
                 for value in table.columns if (leader == value).any()]
        section.p("At each learning rate, the best configuration of each choice (chosen on validation) reaches the "
                  f"test accuracies of the figure; ahead on the test set: {'; '.join(spans)}.")
        section.figure(plots.per_lr(table, axis, folder / "plots" / f"report_{axis}{tag}.png"),
                       f"Test accuracy of the best {axis} choice at each learning rate (chosen on validation)")
    return section


def best_configurations(runs: pd.DataFrame, top: int = 5) -> Section:
    """The configurations with the best mean validation accuracy, and their test accuracy."""
    section = Section("The best configuration")
    impl = reference_impl(runs)
    stats = configurations(runs[runs.impl == impl])
    shown = [c for c in dict.fromkeys(QUESTIONS + varying(runs, SETTINGS + KNOBS, within=QUESTIONS + ["impl"])
                                      + ["lr"])]
    section.table(pd.DataFrame([{"configuration": setting_of(row, shown), "validation": pct(row.best_val_acc),
                                 "test (mean ± std over seeds)": spread(row.test_acc_at_best, row.test_std, row.seeds),
                                 "best epoch (mean)": f"{row.best_epoch:.0f}", "seeds": int(row.seeds)}
                                for _, row in stats.head(top).iterrows()]))
    best = stats.iloc[0]
    test = spread(best.test_acc_at_best, best.test_std, best.seeds)
    section.p(f"Of the {len(stats)} configurations, the one with the best mean validation accuracy ({impl} runs, "
              f"{int(best.seeds)} seed(s), each at its best epoch) is **{setting_of(best, shown)}**: "
              f"{pct(best.best_val_acc)} on the validation set, and **{test}** on the test set, which chose nothing.")
    if best.diverged:
        section.p(f"Beware: {int(best.diverged)} of its {int(best.seeds)} seed(s) diverged (the loss became NaN or "
                  "infinite); their accuracies are those of the epochs they reached, and the networks they ended "
                  "with compute nothing.")
    return section


def learning_rates(runs: pd.DataFrame, folder: Path, where: str = "", tag: str = "") -> Section:
    section = Section("Which learning rate?" + where)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    rows, widths = [], []
    for (activation, loss), group in mine.groupby(QUESTIONS):
        per_lr = chosen(group, ["lr"]).set_index("lr").sort_index()  # the best other knobs at each rate
        if per_lr.empty:
            continue
        best_lr = per_lr.best_val_acc.idxmax()
        width = 0.0 if pd.isna(per_lr.val_std[best_lr]) else per_lr.val_std[best_lr]
        close = per_lr.index[per_lr.best_val_acc >= per_lr.best_val_acc[best_lr] - width]
        finals = group[group.status != "failed"].groupby("lr").agg(
            final=("final_test_acc", "mean"), diverged=("status", lambda s: (s == "diverged").any()))
        broken = finals.index[finals.diverged | (finals.final < CHANCE)]
        widths.append(len(close))
        rows.append({"activation": activation, "loss": loss, "best lr (validation)": label(best_lr),
                     "within one seed-spread of it": ", ".join(label(lr) for lr in close if lr != best_lr)
                     or "none other",
                     "test accuracy there": spread(per_lr.test_acc_at_best[best_lr], per_lr.test_std[best_lr],
                                                   per_lr.seeds[best_lr]),
                     "breaks down from": label(broken.min()) if len(broken) else "not in this grid"})
    table = pd.DataFrame(rows)
    section.table(table)
    broken = table[table["breaks down from"] != "not in this grid"]
    widest = table.iloc[max(range(len(widths)), key=widths.__getitem__)] if widths and max(widths) > 1 else None
    section.p(f"For each activation and loss, the learning rate with the best mean validation accuracy ({impl} runs, "
              "over seeds; any other knob at its best for that rate), the rates whose mean validation accuracy is "
              "within one standard deviation over seeds of it, and the smallest rate at which a run diverged or the "
              f"runs ended near chance on average (final test accuracy below {pct(CHANCE)}). {len(broken)} of the "
              f"{len(table)} pairs break down inside the grid"
              + (f"; the rate matters least for {widest.activation}/{widest.loss} ({max(widths)} rates within one "
                 "seed-spread of its best)." if widest is not None else "."))
    section.figure(plots.lr_sweep(runs, folder / "plots" / f"report_lr_sweep{tag}.png"),
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
            groups = wild.groupby(["activation", "loss", "lr"]).seed.agg(lambda s: ", ".join(map(str, sorted(s))))
            named = "; ".join(f"{a}/{c} lr {label(lr)} (seeds {seeds})" for (a, c, lr), seeds in groups.items())
            text += (f" {len(wild)} part further, all at lr {label(wild.lr.min())} or more: {named}; their final test "
                     f"accuracies differ by up to {wild.test_acc_diff.max():.4f} (median "
                     f"{wild.test_acc_diff.median():.4f}). These runs are chaotic: NumPy and torch round a few "
                     "operations differently (1e-16 in float64, 1e-7 in float32), and at large rates such a "
                     "difference grows with every step until the trajectories part, as in any chaotic system; the "
                     "gradients themselves agree to 1e-15 (gradcheck).")
        unmeasured = int(part.max_rel_train_loss_diff.isna().sum())
        if unmeasured:
            text += (f" {unmeasured} of them have no epoch rows of one twin in epochs.csv, so their training "
                     "losses are not compared.")
        section.p(text)
    if table.max_rel_train_loss_diff.notna().any():
        section.figure(plots.parity(table.dropna(subset=["max_rel_train_loss_diff"]),
                                     folder / "plots" / "report_parity.png", CHAOTIC),
                       "The largest relative gap in training loss between the twins, per configuration")
    return section


def network(runs: pd.DataFrame, folder: Path, data_root: str | None) -> Section:
    """The chosen network, at its best validation epoch, at work on a test digit."""
    section = Section("The network at work")
    try:
        run, net = chosen_network(folder, runs)
        test = plots.test_set(folder, run.dataset, data_root)
    except UsageError as e:
        section.unanswered = f"The network at work ({e})"
        return section
    image, digit = test.x[0], int(test.labels[0])
    section.figure(plots.network_at_work(run, net, image, digit, folder / "plots" / "report_network.png"),
                   f"The first test image, a {digit}, through the chosen network")
    section.figure(plots.first_layer(run, net, folder / "plots" / "report_first_layer.png"),
                   "What each neuron of the first hidden layer looks for")
    section.p(f"The network drawn is the seed of the best configuration with the best validation accuracy, "
              f"with its parameters at that epoch ({pct(run.best_val_acc)} at epoch {int(run.best_epoch)}): "
              f"{plots.run_label(run, net)}; its test accuracy there is {pct(run.test_acc_at_best)}. Its first hidden "
              "layer's neurons each weigh the 784 pixels: red where ink raises the neuron's input, blue where it "
              "lowers it.")
    return section


def apart(runs: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """The runs split by every setting they vary (dataset, sizes, dtype, ...: never pooled), as
    (a title suffix like " (dtype float32)", a file-name tag, the runs); one part when none varies."""
    settings = varying(runs, SETTINGS, within=["impl"])
    if not settings:
        return [("", "", runs)]
    parts = []
    for values, part in runs.groupby(settings, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        where = ", ".join(f"{k} {label(v)}" for k, v in zip(settings, values, strict=True))
        tag = "_" + "_".join(f"{k}-{label(v)}" for k, v in zip(settings, values, strict=True)).replace(",", "-")
        parts.append((f" ({where})", tag, part))
    return parts


def build(folder: Path, data_root: str | None = None, tables=None) -> tuple[str, list[Section], list[str]]:
    """(the page's introduction, its sections, the questions this folder cannot answer and why)."""
    runs, epochs = tables if tables is not None else load(folder)
    ok = runs[runs.status != "failed"]
    settings = {k: sorted(map(label, runs[k].unique())) for k in SETTINGS}
    counts = runs.status.value_counts().to_dict()
    has_val = ok.best_val_acc.notna().any()
    intro = (f"{len(runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}) on "
             f"{', '.join(settings['dataset'])}, sizes {', '.join(settings['sizes'])}, {', '.join(settings['dtype'])}, "
             f"{runs.seed.nunique()} seed(s). ")
    if has_val:
        intro += (f"Every choice below is made on the validation set ("
                  f"{', '.join(f'{int(v):,}' for v in sorted(runs.val_size.unique()) if v)} images held out of "
                  "training); the test set is only reported.")
        if (ok.val_size == 0).any():
            intro += (f" The {int((ok.val_size == 0).sum())} runs without a validation split (val_size 0) choose "
                      "nothing and are left out of the answers.")
    else:
        intro += ("These runs have no validation set (val_size 0), so nothing below is chosen: choosing on the "
                  "test set would flatter the result.")
    sections, missing = [], []
    if has_val:
        sections.append(best_configurations(ok))
    questions = [("activation", "Sigmoid or ReLU?"), ("loss", "Quadratic loss or cross-entropy?")]
    # a knob is a question where it varies for one activation and loss (init=auto follows the activation)
    questions += [(axis, title) for axis, title in KNOB_QUESTIONS.items() if varying(ok, [axis], within=QUESTIONS)]
    for axis, title in questions:
        if ok[axis].nunique() > 1 and has_val:
            answers = [question(part, axis, title + where, folder, tag) for where, tag, part in apart(ok)
                       if part[axis].nunique() > 1 and part.best_val_acc.notna().any()]
            sections += answers
            if not answers:
                missing.append(f"{title} (each setting of these runs with a validation split uses one {axis} "
                               "only)")
        else:
            missing.append(f"{title} (these runs use {axis} {', '.join(map(label, sorted(ok[axis].unique())))} only)"
                           if has_val else f"{title} (no validation split to choose on)")
    if ok.lr.nunique() > 1 and has_val:
        answers = [learning_rates(part, folder, where, tag) for where, tag, part in apart(ok)
                   if part.lr.nunique() > 1 and part.best_val_acc.notna().any()]
        sections += answers
        if not answers:
            missing.append("Which learning rate? (each setting of these runs with a validation split uses one lr "
                           "only)")
    else:
        missing.append(f"Which learning rate? (these runs use lr {', '.join(map(label, sorted(ok.lr.unique())))} only)"
                       if has_val else "Which learning rate? (no validation split to choose on)")
    if {"scratch", "torch"} <= set(ok.impl):
        sections.append(twins(ok, epochs, folder))
    else:
        missing.append(f"Do the twins agree? (only {', '.join(sorted(ok.impl.unique()))} ran)")
    drawn = network(ok, folder, data_root)
    if drawn.unanswered:
        missing.append(drawn.unanswered)
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


def write_report(folder: str | Path, data_root: str | None = None, tables=None) -> list[Path]:
    folder = Path(folder)
    try:
        make_folder(folder / "plots")
    except OSError as e:
        raise UsageError(f"cannot write to {folder / 'plots'} ({why(e)}); check the folder's permissions") from None
    intro, sections, missing = build(folder, data_root, tables)
    written = [folder / "report.md", folder / "report.html"]
    write_atomic(written[0], markdown(folder, intro, sections, missing).encode())
    write_atomic(written[1], page(folder, intro, sections, missing).encode())
    return written


