"""A hyperparameter search with Optuna, trained as grids are: `mlp-twins search`.

    1. ask Optuna for a batch of trials at once (its TPE sampler, seeded, with the "constant
       liar" that keeps the trials of one batch apart) and turn each into a RunConfig;
    2. train the batch as a grid of its runs (experiments.execution.runner): stacked by the
       batched engines, on this process, a pool of --workers or Dask (--scheduler), written to
       the folder as every grid writes (runs.csv, epochs.csv, params/, manifest.json);
    3. tell each trial its run's validation accuracy at its best epoch (the test set is never
       seen by the sampler; a run that diverged is worth 0), and go on until --trials are done;
    4. run the best few configurations again on more seeds (the trials' seed and the next ones),
       so that what the search found carries an interval over seeds.

The study lives in the folder (study.journal, Optuna's journal storage, an append-only log that a
kill at any moment leaves readable). A search stopped at any moment resumes with the same command:
trials asked but not told are told from runs.csv when their run finished, and asked again (the
same params, first in line) when it did not.
"""
import math
from dataclasses import dataclass, replace

from experiments.errors import UsageError
from experiments.execution.runner import plan_grid, run_plan
from experiments.spec.config import RunConfig
from experiments.spec.space import Space, suggest
from experiments.store.folder import ResultsDir

STUDY = "study.journal"


@dataclass
class SearchOutcome:
    trials: int                       # trials complete in the study
    trained: int                      # runs trained by this command
    best: RunConfig | None            # the trial with the best validation accuracy
    best_value: float
    confirmed: list[RunConfig]        # the configurations run again on more seeds (their trial seed's run)


def open_study(out: ResultsDir, space: Space, seed: int):
    """The folder's study, made on first use."""
    import optuna  # the search extra: only `search` needs it
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(out.path / STUDY)))
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    return optuna.create_study(study_name=f"search:{space.name}", storage=storage, direction="maximize",
                               sampler=sampler, load_if_exists=True)


def value_of(row: dict) -> float | None:
    """A trial's objective: its run's best validation accuracy (for a run that diverged before any
    epoch computed numbers, the accuracy it ended with, as the analysis counts it); None for a run
    that failed (it is asked again)."""
    if row["status"] == "failed":
        return None
    for value in (row["best_val_acc"], row["final_val_acc"]):
        if not math.isnan(value):
            return value
    return 0.0


def tell(study, trial, row: dict | None) -> None:
    from optuna.trial import TrialState  # the search extra: only `search` needs it
    value = value_of(row) if row is not None else None
    if value is None:
        study.tell(trial, state=TrialState.FAIL)
    else:
        study.tell(trial, value)


def finished_rows(out: ResultsDir) -> dict[tuple[str, str], dict]:
    return {(r["run_id"], r["impl"]): r for r in out.rows("runs.csv")}


def reconcile(study, space: Space, out: ResultsDir) -> int:
    """Trials asked but not told (the search was stopped): told from runs.csv where their run
    finished, else failed and asked again first. Returns how many were asked again."""
    from optuna.trial import TrialState  # the search extra: only `search` needs it
    rows = finished_rows(out) if out.path.exists() else {}
    again = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        config = space.config(trial.params) if set(trial.params) == set(space.ranges) | set(space.choices) else None
        row = rows.get((config.run_id, config.impl)) if config is not None else None
        if row is not None and value_of(row) is not None:
            study.tell(trial.number, value_of(row))
        else:
            study.tell(trial.number, state=TrialState.FAIL)
            if config is not None:
                study.enqueue_trial(trial.params)
                again += 1
    return again


def complete(study) -> list:
    from optuna.trial import TrialState  # the search extra: only `search` needs it
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best_configs(study, space: Space, count: int) -> list[RunConfig]:
    """The `count` distinct configurations of the complete trials with the best values."""
    chosen, seen = [], set()
    for trial in sorted(complete(study), key=lambda t: (-t.value, t.number)):
        config = space.config(trial.params)
        if config.run_id not in seen:
            seen.add(config.run_id)
            chosen.append(config)
        if len(chosen) == count:
            break
    return chosen


def run_search(space: Space, trials: int, out: ResultsDir, overrides: list[str] = (), data_root: str | None = None,
               workers: int = 1, executor=None, scheduler: str | None = None, engine: str = "batched",
               seed: int = 0, batch: int = 36, confirm: int = 3, confirm_seeds: int = 5, extend: bool = False,
               announce=print, progress_for=None) -> SearchOutcome:
    """Search until `trials` trials are complete, then run the best `confirm` configurations on
    `confirm_seeds` seeds. announce(text): a line per batch; progress_for(configs): the progress
    of a batch's runs (the runner's default when None)."""
    if space.fixed.get("val_size", "auto") == 0:
        raise UsageError("a search chooses on the validation set, and val_size 0 leaves none; give val_size > 0")
    name, axes = f"search:{space.name}", space.as_json()
    options = {"data_root": data_root, "workers": workers, "executor": executor, "scheduler": scheduler,
               "engine": engine, "search": True}
    # the folder's checks (its kind, its data, its manifest) come first, before the study is touched
    plan_grid([space.config(sample_of(space))], out, name, axes, overrides, extend=extend, **options)
    out.open()
    study = open_study(out, space, seed)
    again = reconcile(study, space, out)
    if again:
        announce(f"{again} trial(s) stopped before their run finished: asked again")
    trained, continuing = 0, False  # continuing: this command's session is in the manifest
    while len(complete(study)) < trials:
        asked = [study.ask() for _ in range(min(batch, trials - len(complete(study))))]
        configs = [space.config(suggest(trial, space)) for trial in asked]
        unique = list({(c.run_id, c.impl): c for c in configs}.values())
        plan = plan_grid(unique, out, name, axes, overrides, extend=True, continuing=continuing, **options)
        done = len(complete(study))
        announce(f"trials {done + 1}-{done + len(asked)} of {trials}: {len(plan.todo)} run(s) to train in "
                 f"{len(plan.work)} unit(s), about {plan.seconds / 60:.1f} min")
        before = len(complete(study))
        outcome = run_plan(plan, progress_for(plan.todo) if progress_for else None, always_record=not continuing)
        continuing = True
        trained += len(outcome.rows)
        rows = finished_rows(out)
        for trial, config in zip(asked, configs, strict=True):
            tell(study, trial, rows.get((config.run_id, config.impl)))
        if len(complete(study)) == before:
            raise UsageError(f"none of the {len(asked)} trials of a batch finished (their runs failed, see the lines "
                             "above); fix what failed and run the same command again to resume")
        best = study.best_trial if complete(study) else None
        if best is not None:
            announce(f"  best so far: trial {best.number}, validation accuracy {100 * best.value:.2f}%: "
                     f"{space.config(best.params).describe()}")
    top = best_configs(study, space, confirm)
    seeds = [space.fixed.get("seed", 0) + k for k in range(confirm_seeds)]
    confirmation = [replace(c, seed=s) for c in top for s in seeds]
    if confirmation:
        plan = plan_grid(confirmation, out, name, axes, overrides, extend=True, continuing=continuing, **options)
        if plan.todo:
            announce(f"the best {len(top)} configuration(s) on {confirm_seeds} seeds: {len(plan.todo)} run(s) to "
                     f"train in {len(plan.work)} unit(s), about {plan.seconds / 60:.1f} min")
            trained += len(run_plan(plan, progress_for(plan.todo) if progress_for else None,
                                    always_record=not continuing).rows)
    best = study.best_trial if complete(study) else None
    return SearchOutcome(len(complete(study)), trained, space.config(best.params) if best else None,
                         best.value if best else math.nan, top)


def sample_of(space: Space) -> dict:
    """One point of the space (each range's low end, each choice's first value), for the checks."""
    return {**{k: r.low for k, r in space.ranges.items()}, **{k: v[0] for k, v in space.choices.items()}}
