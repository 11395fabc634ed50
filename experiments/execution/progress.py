"""Progress over the runs of a grid: a tqdm bar on a terminal, a plain line every few seconds otherwise.

Progress is counted in epochs (of every run), reported as they are trained, so that the time
left is right from the first minutes even when one unit of work trains many runs for long.
`EpochLines` is the progress of `train`: a line per epoch of its one run. Where no one reads
(a closed stderr), nothing is shown and the training goes on.
"""
import sys
import time

from tqdm import tqdm


class Quiet:
    """A stream that takes everything and shows nothing: what progress writes to when stderr is closed."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def stream_or_quiet(stream):
    return stream if stream is not None else Quiet()


class Progress:
    def __init__(self, configs: list, every_s: float = 5.0, stream=None):
        stream = stream_or_quiet(stream if stream is not None else sys.stderr)  # the stderr of now, not of the import
        self.total, self.done, self.every_s, self.stream = len(configs), 0, every_s, stream
        self.epochs = {(c.run_id, c.impl): c.epochs for c in configs}
        self.epochs_total, self.epochs_done = sum(self.epochs.values()), 0
        self.seen: dict[tuple, int] = {}
        self.finished: set[tuple] = set()
        self.start_time = self.last_print = time.monotonic()
        self.bar = (tqdm(total=self.epochs_total, unit="epoch", file=stream, dynamic_ncols=True)
                    if stream.isatty() else None)

    def start(self, config) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(config.describe())

    def advance(self, epochs: int, text: str, last: bool = False) -> None:
        epochs = min(epochs, self.epochs_total - self.epochs_done)
        self.epochs_done += epochs
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(epochs)
            return
        now = time.monotonic()
        if now - self.last_print >= self.every_s or last:
            elapsed = now - self.start_time
            left = elapsed / max(self.epochs_done, 1) * (self.epochs_total - self.epochs_done)
            self.print(f"[{self.done}/{self.total} runs, {self.epochs_done}/{self.epochs_total} epochs] "
                       f"{elapsed:.0f} s elapsed, about {left:.0f} s left; last: {text}")
            self.last_print = now

    def print(self, text: str) -> None:
        """A line; a reader that has gone (a closed pipe) gets nothing more, and the work goes on."""
        try:
            print(text, file=self.stream, flush=True)
        except (BrokenPipeError, ValueError, OSError):
            self.stream = Quiet()

    def epoch(self, row: dict) -> None:
        """An epoch row of a run still training."""
        key = (row["run_id"], row["impl"])
        if key in self.finished:  # a row that arrived after its run's result
            return
        self.seen[key] = self.seen.get(key, 0) + 1
        self.advance(1, f"{row['impl']} run {row['run_id']} epoch {row['epoch']}, test_acc {row['test_acc']:.4f}")

    def finish(self, run_row: dict) -> None:
        """A finished run: the epochs it will not train (it diverged or failed) count as done too."""
        self.done += 1
        key = (run_row["run_id"], run_row["impl"])
        self.finished.add(key)
        left = max(self.epochs.get(key, 0) - self.seen.pop(key, 0), 0)
        text = (f"{run_row['impl']} {run_row['activation']}/{run_row['loss']} lr={run_row['lr']} "
                f"seed={run_row['seed']}: {run_row['status']}, test_acc {run_row['final_test_acc']:.4f}")
        self.advance(left, text, last=self.done == self.total)

    def note(self, text: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.print(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EpochLines(Progress):
    """The progress of `train`: on stdout, a line per epoch of its one run."""

    def __init__(self, configs: list, has_validation: bool):
        super().__init__(configs, stream=Quiet())
        self.out, self.has_validation = stream_or_quiet(sys.stdout), has_validation
        self.epochs_of_run = configs[0].epochs if configs else 0

    def epoch(self, row: dict) -> None:
        val = f"val_acc {100 * row['val_acc']:.2f}%  " if self.has_validation else ""
        self.say(f"epoch {row['epoch']:3d}/{self.epochs_of_run}: {val}test_acc {100 * row['test_acc']:.2f}%  "
                 f"train_loss {row['train_loss']:.4g}  {row['wall_s']:.2f} s")

    def note(self, text: str) -> None:
        self.say(text)

    def say(self, text: str) -> None:
        try:
            print(text, file=self.out, flush=True)
        except (BrokenPipeError, ValueError, OSError):  # the reader has gone: the run goes on
            self.out = Quiet()
