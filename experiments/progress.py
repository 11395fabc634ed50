"""Progress over the runs of a grid: a tqdm bar on a terminal, a plain line every few seconds otherwise."""
import sys
import time

from tqdm import tqdm


def describe(config) -> str:
    return f"{config.impl} {config.activation}/{config.loss} lr={config.lr} seed={config.seed}"


class Progress:
    def __init__(self, total: int, every_s: float = 5.0, stream=sys.stderr):
        self.total, self.done, self.every_s, self.stream = total, 0, every_s, stream
        self.start_time = self.last_print = time.monotonic()
        self.bar = tqdm(total=total, unit="run", file=stream, dynamic_ncols=True) if stream.isatty() else None

    def start(self, config) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(describe(config))

    def finish(self, run_row: dict) -> None:
        self.done += 1
        text = (f"{run_row['impl']} {run_row['activation']}/{run_row['loss']} lr={run_row['lr']} "
                f"seed={run_row['seed']}: {run_row['status']}, test_acc {run_row['final_test_acc']:.4f}")
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last_print >= self.every_s or self.done == self.total:
            elapsed = now - self.start_time
            eta = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {elapsed:.0f} s elapsed, eta {eta:.0f} s; last: {text}",
                  file=self.stream, flush=True)
            self.last_print = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
