"""inspect --report: one page per results folder that answers the questions its grid can answer.

    Sigmoid or ReLU?                      when the runs vary the activation
    Quadratic loss or cross-entropy?      when they vary the loss
    Which learning rate?                  when they vary the learning rate
    Do the twins agree?                   when both implementations ran
    The network at work                   when the best run's parameters are in the folder

Each section is a figure and sentences computed from the tables, never written by hand. Every
"best" is chosen on validation accuracy (each run at its best epoch, averaged over seeds) and
reports the test accuracy of what was chosen. The page is written twice: report.md, whose
figures are the PNG files beside it, and report.html, self-contained (experiments.analysis.pages).
"""
import math
import warnings
from pathlib import Path

import pandas as pd

from experiments.analysis import plots
from experiments.analysis.pages import Section, markdown, page
from experiments.analysis.selection import (
    chosen,
    chosen_network,
    configurations,
    contenders,
    label,
    load,
    per_seed,
    reference_impl,
    scored,
    search_ranges,
    searched,
    varying,
)
from experiments.analysis.stats import Difference, difference
from experiments.analysis.tables import parity
from experiments.analysis.tryit import tryit_html
from experiments.errors import UsageError
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS, parse_sizes
from experiments.store.files import make_folder, why, write_atomic

# epochs is no question: a shorter run is the first epochs of a longer one, scored at its best epoch,
# so the longest always ties or wins (the best epoch of each run says how many it needed)
KNOB_QUESTIONS = {"l2": "Which L2 strength?", "momentum": "Which momentum?", "lr_decay": "Which learning-rate decay?",
                  "batch_size": "Which batch size?", "init": "Which initialisation?"}
CHANCE = 0.2  # a final test accuracy below this is "near chance" (0.1 for ten digits)
MANY_SEEDS = 100  # beyond this, a difference is too small to chase with seeds
CHAOTIC = 1e-6  # twins whose train_loss parts by more than this, relative, have left rounding behind


def pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def shown_value(value) -> str:
    """A value for people: a number to four significant digits (a searched 0.0954141... is 0.09541)."""
    return f"{value:.4g}" if isinstance(value, float) else label(value)


def setting_of(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k} {shown_value(row[k])}" for k in keys if k in row and not pd.isna(row[k]))


def with_ci(mean: float, low: float, n: int) -> str:
    """`96.32% ± 0.40`: a mean over seeds and the half-width of its 95% interval, in points; the
    value alone for one seed."""
    return pct(mean) if n < 2 or pd.isna(low) else f"{pct(mean)} ± {100 * (mean - low):.2f}"


def points(value: float) -> str:
    return f"{100 * value:+.2f}"


def seeds_phrase(n: float) -> str:
    if n == math.inf:
        return "no number of seeds would resolve a difference this small (the two are level)"
    if n > MANY_SEEDS:
        return f"more than {MANY_SEEDS} seeds would be needed to resolve a difference this small"
    return f"about {int(n)} seeds would resolve a difference of this size"


def verdict(d: Difference, a: str, b: str) -> str:
    """What the interval of A - B says: which is better, or that the seeds do not tell them apart."""
    how = f"paired over the {d.n} seeds both ran" if d.paired else "Welch's: the runs share fewer than two seeds"
    if math.isnan(d.low):
        return (f"{a} - {b} = {points(d.mean)} points on the test set; with {d.n} seed(s) there is no interval: "
                "run more seeds to compare them")
    text = f"{a} - {b} = {points(d.mean)} points on the test set (95% CI {points(d.low)} to {points(d.high)}, {how}): "
    if d.verdict == "A":
        return text + f"**{a} is better**"
    if d.verdict == "B":
        return text + f"**{b} is better** on the test set, though the validation set chose {a}"
    return text + f"**not told apart by {d.n} seeds**; {seeds_phrase(d.seeds_needed)}"


def others(runs: pd.DataFrame, axis: str) -> list[str]:
    """The axes a best configuration chooses besides `axis`: the other question, and every
    hyperparameter the runs vary."""
    return [c for c in dict.fromkeys([*QUESTIONS, "lr", *varying(runs, KNOBS, within=QUESTIONS)]) if c != axis]


def question(runs: pd.DataFrame, axis: str, title: str, folder: Path, tag: str = "") -> Section:
    """The best configuration of each choice of `axis` (chosen on validation), the test-accuracy
    difference of the best against each other with its 95% interval paired by seed, and how the
    answer depends on the learning rate. facts: axis, best, and the Difference per other choice."""
    section = Section(title)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    best = chosen(mine, [axis])
    hyper = others(mine, axis)
    section.table(pd.DataFrame([{axis: label(row[axis]), "chosen configuration": setting_of(row, hyper),
                                 "validation": pct(row.best_val_acc),
                                 "test, mean ± 95% CI": with_ci(row.test_acc_at_best, row.test_low, row.seeds),
                                 "seeds": int(row.seeds)} for _, row in best.iterrows()]))
    if len(best) < 2:
        section.p(f"Only {axis} {label(best[axis].iloc[0])} has runs with a validation accuracy.")
        return section
    a = best.iloc[0]
    differences = {label(b[axis]): difference(per_seed(mine, a), per_seed(mine, b))
                   for _, b in best.iloc[1:].iterrows()}
    section.facts = {"axis": axis, "best": label(a[axis]), "differences": differences}
    runner_up = best.iloc[1]
    text = (f"Chosen on validation accuracy ({impl} runs), the best {axis} is **{label(a[axis])}**: "
            f"{pct(a.best_val_acc)} on the validation set against {pct(runner_up.best_val_acc)} for the best "
            f"{axis} {label(runner_up[axis])} configuration. ")
    text += " ".join(verdict(d, f"{axis} {label(a[axis])}", f"{axis} {other}") + "."
                     for other, d in differences.items())
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


# how far an axis can go, and a value beyond the grid's edge to try: (lowest, highest) and the step out
BOUNDS = {"lr": (0, math.inf), "l2": (0, math.inf), "momentum": (0, 1), "lr_decay": (0, 1), "batch_size": (1, math.inf)}


def beyond(axis: str, value: float, side: str) -> str:
    """A value past the edge of an axis, for the suggestion to widen it (to two significant digits:
    0.01 / 3 is 0.0033, 40 * 3 is 120)."""
    if axis in ("lr", "l2"):
        past = value * 3 if side == "largest" else value / 3
        return f"{float(f'{past:.2g}'):g}" if value else label(0)
    if axis == "momentum":
        return label(round(1 - (1 - value) / 2, 4) if side == "largest" else value / 2)
    if axis == "lr_decay":
        return label(round(max(value / 2, 1 - (1 - value) * 2), 4) if side == "smallest" else 1 - (1 - value) / 2)
    return label(int(value * 2) if side == "largest" else max(1, int(value // 2)))


def edges(runs: pd.DataFrame, config: pd.Series) -> dict[str, str]:
    """The numeric axes whose chosen value is the smallest or the largest the runs tried, where the
    axis could go further: axis -> "smallest" or "largest"."""
    found = {}
    for axis in varying(runs, list(BOUNDS), within=QUESTIONS):
        tried = sorted(runs[(runs.activation == config.activation) & (runs.loss == config.loss)][axis].unique())
        if len(tried) < 2:
            continue
        low, high = BOUNDS[axis]
        if config[axis] == tried[-1] and config[axis] < high:
            found[axis] = "largest"
        elif config[axis] == tried[0] and config[axis] > low:
            found[axis] = "smallest"
    return found


NEAR_END = 0.1  # a searched value this close to an end of its range (as a share of it, log where drawn so) is on it


def range_edges(config: pd.Series, ranges: dict[str, dict]) -> dict[str, str]:
    """The searched axes whose chosen value lies near an end of the range the search drew from:
    axis -> "smallest" or "largest" (the best may lie beyond the range)."""
    found = {}
    for axis, r in ranges.items():
        low, high, value = float(r["low"]), float(r["high"]), float(config[axis])
        bottom, top = BOUNDS.get(axis, (0, math.inf))  # how far the axis itself can go
        if r.get("log") and low > 0 and value > 0:
            low, high, value = math.log(low), math.log(high), math.log(value)
        if high <= low:
            continue
        share = (value - low) / (high - low)
        if share >= 1 - NEAR_END and float(r["high"]) < top:
            found[axis] = "largest"
        elif share <= NEAR_END and float(r["low"]) > bottom:
            found[axis] = "smallest"
    return found


def best_configurations(runs: pd.DataFrame, where: str = "", top: int = 5, ranges: dict | None = None) -> Section:
    """The configurations with the best mean validation accuracy, their test accuracy with its
    interval, and the axes on whose edge the best lies (of one setting: `where`). facts: best (its
    row), edges."""
    section = Section("The best configuration" + where)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    stats = configurations(mine)
    shown = [c for c in dict.fromkeys(QUESTIONS + varying(runs, SETTINGS, within=QUESTIONS + ["impl"]) + ["lr"]
                                      + varying(runs, [k for k in KNOBS if k != "init"]))]
    section.table(pd.DataFrame([{"configuration": setting_of(row, shown), "validation": pct(row.best_val_acc),
                                 "test, mean ± 95% CI": with_ci(row.test_acc_at_best, row.test_low, row.seeds),
                                 "best epoch (mean)": f"{row.best_epoch:.0f}", "seeds": int(row.seeds)}
                                for _, row in stats.head(top).iterrows()]))
    best = stats.iloc[0]
    test = with_ci(best.test_acc_at_best, best.test_low, best.seeds)
    section.p(f"Of the {len(stats)} configurations, the one with the best mean validation accuracy ({impl} runs, "
              f"{int(best.seeds)} seed(s), each at its best epoch) is **{setting_of(best, shown)}**: "
              f"{pct(best.best_val_acc)} on the validation set, and **{test}** on the test set (mean and the "
              "half-width of its 95% interval over seeds), which chose nothing.")
    if len(stats) > 1:
        second = stats.iloc[1]
        d = difference(per_seed(mine, best), per_seed(mine, second))
        section.p(f"Against the runner-up ({setting_of(second, shown)}): "
                  + verdict(d, "the best", "the runner-up") + ".")
    # a search: its ranges' ends, not the few values its confirmed configurations share
    section.facts = {"best": best, "edges": range_edges(best, ranges) if ranges else edges(mine, best)}
    for axis, side in section.facts["edges"].items():
        if ranges:
            low, high = float(ranges[axis]["low"]), float(ranges[axis]["high"])
            end, words = (high, "top") if side == "largest" else (low, "bottom")
            section.p(f"**{axis} {shown_value(best[axis])} lies near the {words} of the range the search drew it "
                      f"from ({shown_value(low)} to {shown_value(high)})**: the best may lie beyond "
                      f"{shown_value(end)}. Widen the range (for example to {beyond(axis, end, side)}) before "
                      "taking this value as the answer.")
        else:
            section.p(f"**{axis} {label(best[axis])} is the {side} {axis} the runs tried**: the best may lie "
                      f"beyond the grid's edge. Widen the {axis} axis (for example to "
                      f"{beyond(axis, best[axis], side)}) before taking this value as the answer.")
    if best.diverged:
        section.p(f"Beware: {int(best.diverged)} of its {int(best.seeds)} seed(s) diverged (the loss became NaN or "
                  "infinite); their accuracies are those of the epochs they reached before.")
    return section


def learning_rates(runs: pd.DataFrame, folder: Path, where: str = "", tag: str = "") -> Section:
    """Per activation and loss: the learning rate chosen on validation, the rates the seeds cannot
    tell apart from it, the test accuracy there, and where training breaks down."""
    section = Section("Which learning rate?" + where)
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    rows, close_counts = [], []
    for (activation, loss), group in mine.groupby(QUESTIONS):
        per_lr = {row.lr: row for _, row in chosen(group, ["lr"]).iterrows()}  # the best other knobs at each rate
        if not per_lr:
            continue
        best_lr = max(per_lr, key=lambda lr: per_lr[lr].best_val_acc)
        top = per_lr[best_lr]
        top_seeds = per_seed(group, top, "best_val_acc")
        close = sorted(lr for lr, row in per_lr.items() if lr != best_lr
                       and difference(top_seeds, per_seed(group, row, "best_val_acc")).verdict == "tie")
        finals = group[group.status != "failed"].groupby("lr").agg(
            final=("final_test_acc", "mean"), diverged=("status", lambda s: (s == "diverged").any()))
        broken = finals.index[finals.diverged | (finals.final < CHANCE)]
        close_counts.append(len(close) + 1)
        edge = "" if len(per_lr) < 2 else "largest tried" if best_lr == max(per_lr) else \
            "smallest tried" if best_lr == min(per_lr) else ""
        rows.append({"activation": activation, "loss": loss, "best lr (validation)": label(best_lr)
                     + (f" ({edge}: widen the lr axis)" if edge else ""),
                     "not told apart from it (validation, 95%)": ", ".join(label(lr) for lr in close) or "none",
                     "test accuracy there, mean ± 95% CI": with_ci(top.test_acc_at_best, top.test_low, top.seeds),
                     "breaks down from": label(broken.min()) if len(broken) else "not in this grid"})
    table = pd.DataFrame(rows)
    section.table(table)
    broken = table[table["breaks down from"] != "not in this grid"]
    widest = table.iloc[max(range(len(close_counts)), key=close_counts.__getitem__)] \
        if close_counts and max(close_counts) > 1 else None
    section.p(f"For each activation and loss, the learning rate with the best mean validation accuracy ({impl} runs, "
              "over seeds; any other knob at its best for that rate), the rates whose validation accuracy the seeds "
              "cannot tell apart from it (the 95% interval of the paired difference holds 0), and the smallest rate "
              f"at which a run diverged or the runs ended near chance on average (final test accuracy below "
              f"{pct(CHANCE)}). {len(broken)} of the {len(table)} pairs break down inside the grid"
              + (f"; the rate matters least for {widest.activation}/{widest.loss} ({max(close_counts)} rates not told "
                 "apart)." if widest is not None else "."))
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
    section.html(tryit_html(net.weights, net.biases, run.activation, run.loss, "Try it: draw a digit"),
                 "In report.html, a canvas lets you draw a digit and watch this network read it.")
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


def search_section(runs: pd.DataFrame, epochs: pd.DataFrame, folder: Path) -> Section:
    """What a search found: its trials (one seed each), where the best validation accuracy last
    improved, the configurations it ran again on more seeds with their test accuracy and interval,
    and Optuna's figures of its history and of the importance of each parameter. facts: trials,
    best_value, last_improved, confirmed (rows of `configurations`), top_values (the 10 best
    trials' lowest and highest), max_train_acc (over every epoch of every run)."""
    import optuna  # the search extra: only a search's folder needs it
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState
    section = Section("What did the search find?")
    path = folder / "study.journal"
    if not path.exists():
        section.unanswered = f"What did the search find? (its study, {path.name}, is not in {folder})"
        return section
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(path)))
    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        section.unanswered = (f"What did the search find? ({path.name} holds {len(names)} studies; a search's folder "
                              "holds its own, one)")
        return section
    (name,) = names
    study = optuna.load_study(study_name=name, storage=storage)
    trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    if not trials:
        section.unanswered = "What did the search find? (no trial is complete yet)"
        return section
    best_so_far = pd.Series([t.value for t in trials]).cummax()
    last_improved = trials[int(best_so_far.idxmax())].number  # Optuna's number of the trial that set the best
    impl = reference_impl(runs)
    mine = runs[runs.impl == impl]
    stats = configurations(mine)
    confirmed = stats[stats.seeds > 1]  # the configurations the search ran again (as `contenders`)
    shown = [c for c in dict.fromkeys(QUESTIONS + ["lr"] + varying(mine, [k for k in KNOBS if k != "init"]))]
    section.facts = {"trials": len(trials), "best_value": study.best_value, "last_improved": last_improved,
                     "confirmed": confirmed}
    section.p(f"The search ({name}) completed {len(trials)} trials, each a run on one seed, chosen by Optuna's TPE "
              f"sampler on the validation accuracy at the run's best epoch. The best, trial {study.best_trial.number} "
              f"(Optuna numbers its trials from 0, {trials[-1].number} the last), reached {pct(study.best_value)} on "
              f"the validation set, and no later trial did better"
              + (": more trials may still find better." if last_improved > 0.8 * trials[-1].number else
                 ": the search had stalled well before its end."))
    top_values = sorted(t.value for t in trials)[-10:]
    trained = epochs[epochs.run_id.isin(mine.run_id)]
    max_train = trained.train_acc.max() if len(trained) else float("nan")
    section.facts.update(top_values=(top_values[0], top_values[-1]), max_train_acc=max_train)
    if len(trials) >= 20 and not math.isnan(max_train):
        hidden = parse_sizes(str(mine.sizes.iloc[0]))[1:-1]
        section.p(f"Where it stalls: the {len(top_values)} best trials reach {pct(top_values[0])} to "
                  f"{pct(top_values[-1])} on the validation set, and no run fits even its training images beyond "
                  f"{pct(max_train)} at any epoch: with hidden layers of {' and '.join(map(str, hidden))} "
                  "units the network underfits, and what the knobs can still move is the gap between its training "
                  "and its validation accuracy.")
    if len(confirmed):
        section.table(pd.DataFrame([{"configuration": setting_of(row, shown), "validation": pct(row.best_val_acc),
                                     "test, mean ± 95% CI": with_ci(row.test_acc_at_best, row.test_low, row.seeds),
                                     "best epoch (mean)": f"{row.best_epoch:.0f}", "seeds": int(row.seeds)}
                                    for _, row in confirmed.iterrows()]))
        top = confirmed.iloc[0]
        section.p(f"Run again on {int(top.seeds)} seeds, the best of them on the validation set is "
                  f"**{setting_of(top, shown)}**: **{with_ci(top.test_acc_at_best, top.test_low, top.seeds)}** on "
                  "the test set, which chose nothing. "
                  + " ".join(f"Against {setting_of(other, shown)}: "
                             + verdict(difference(per_seed(mine, top), per_seed(mine, other)), "the best", "it") + "."
                             for _, other in confirmed.iloc[1:].iterrows()))
    with warnings.catch_warnings():  # Optuna's matplotlib figures are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna.visualization.matplotlib.plot_optimization_history(study)
        section.figure(plots.save(history.figure, folder / "plots" / "report_search_history.png"),
                       "Validation accuracy of every trial, and the best so far (Optuna)")
        if len(trials) >= 4 and len(study.best_trial.params) > 1:
            importances = optuna.visualization.matplotlib.plot_param_importances(study)
            section.figure(plots.save(importances.figure, folder / "plots" / "report_search_importance.png"),
                           "How much of the validation accuracy each parameter explains (Optuna's fANOVA)")
    return section


def build(folder: Path, data_root: str | None = None, tables=None) -> tuple[str, list[Section], list[str]]:
    """(the page's introduction, its sections, the questions this folder cannot answer and why)."""
    runs, epochs = tables if tables is not None else load(folder)
    try:
        make_folder(folder / "plots")
    except OSError as e:
        raise UsageError(f"cannot write to {folder / 'plots'} ({why(e)}); check the folder's permissions") from None
    found = search_section(runs, epochs, folder) if searched(folder) else None
    runs = contenders(runs, folder)  # a search's questions are answered by the configurations it ran again
    ok = runs[runs.status != "failed"]
    settings = {k: sorted(map(label, runs[k].unique())) for k in SETTINGS}
    counts = runs.status.value_counts().to_dict()
    has_val = (ok.val_size > 0).any()
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
    if found is not None:
        intro += (" The runs compared below are the configurations the search ran again on more seeds; its "
                  "trials, one seed each, are in the first section.")
        if found.unanswered:
            missing.append(found.unanswered)
        else:
            sections.append(found)
    ranges = search_ranges(folder) if found is not None else {}
    if has_val:
        sections += [best_configurations(part, where, ranges=ranges) for where, _, part in apart(ok)
                     if not scored(part).empty]
    if found is not None:  # its few confirmed configurations differ in every knob at once: no one-axis question
        missing.append("the questions of one axis: sigmoid or ReLU, which loss, which learning rate, L2, momentum "
                       "or decay (the configurations the search ran again differ in every searched knob at once; "
                       "Optuna's importance figure above says how much each explains)")
        return intro, *twins_and_network(ok, epochs, folder, data_root, sections, missing)
    questions = [("activation", "Sigmoid or ReLU?"), ("loss", "Quadratic loss or cross-entropy?")]
    # a knob is a question where it varies for one activation and loss (init=auto follows the activation)
    questions += [(axis, title) for axis, title in KNOB_QUESTIONS.items() if varying(ok, [axis], within=QUESTIONS)]
    for axis, title in questions:
        if ok[axis].nunique() > 1 and has_val:
            answers = [question(part, axis, title + where, folder, tag) for where, tag, part in apart(ok)
                       if part[axis].nunique() > 1 and not scored(part).empty]
            sections += answers
            if not answers:
                missing.append(f"{title} (each setting of these runs with a validation split uses one {axis} "
                               "only)")
        else:
            missing.append(f"{title} (these runs use {axis} {', '.join(map(label, sorted(ok[axis].unique())))} only)"
                           if has_val else f"{title} (no validation split to choose on)")
    if ok.lr.nunique() > 1 and has_val:
        answers = [learning_rates(part, folder, where, tag) for where, tag, part in apart(ok)
                   if part.lr.nunique() > 1 and not scored(part).empty]
        sections += answers
        if not answers:
            missing.append("Which learning rate? (each setting of these runs with a validation split uses one lr "
                           "only)")
    else:
        missing.append(f"Which learning rate? (these runs use lr {', '.join(map(label, sorted(ok.lr.unique())))} only)"
                       if has_val else "Which learning rate? (no validation split to choose on)")
    return intro, *twins_and_network(ok, epochs, folder, data_root, sections, missing)


def twins_and_network(ok: pd.DataFrame, epochs: pd.DataFrame, folder: Path, data_root: str | None,
                      sections: list[Section], missing: list[str]) -> tuple[list[Section], list[str]]:
    """The last two sections, where the runs can answer them: do the twins agree, the network at work."""
    if {"scratch", "torch"} <= set(ok.impl):
        sections.append(twins(ok, epochs, folder))
    else:
        missing.append(f"Do the twins agree? (only {', '.join(sorted(ok.impl.unique()))} ran)")
    drawn = network(ok, folder, data_root)
    if drawn.unanswered:
        missing.append(drawn.unanswered)
    else:
        sections.append(drawn)
    return sections, missing


def write_report(folder: str | Path, data_root: str | None = None, tables=None) -> list[Path]:
    folder = Path(folder)
    intro, sections, missing = build(folder, data_root, tables)
    written = [folder / "report.md", folder / "report.html"]
    write_atomic(written[0], markdown(folder, intro, sections, missing).encode())
    write_atomic(written[1], page(folder, intro, sections, missing).encode())
    return written


