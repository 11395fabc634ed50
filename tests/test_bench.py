"""A tiny run of the benchmark, so that it keeps working."""
import json

import pandas as pd

from experiments.bench import CASES
from tests.helpers import cli


def test_bench_on_the_sample(tmp_path):
    done = cli("bench", "--dataset", "sample", "--repeats", "1", "--batch-sizes", "100", "--device", "cpu",
               "--configs", "3", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "bench.csv")
    assert {"case", "batch_size", "device", "sec_per_epoch", "samples_per_s", "peak_rss_mb"} <= set(table.columns)
    assert sorted(table.case) == sorted(CASES) and set(table.batch_size) == {100}
    assert (table.sec_per_epoch > 0).all() and (table.peak_rss_mb > 10).all()
    # samples/s is the 4,000 training images over the seconds of one epoch
    assert ((table.samples_per_s * table.sec_per_epoch - 4000).abs() < 1e-6 * 4000).all()
    sklearn = table.set_index("case").loc["sklearn", "sec_per_epoch"]
    scratch = table.set_index("case").loc["scratch"]
    assert abs(scratch.speedup_vs_sklearn - sklearn / scratch.sec_per_epoch) < 1e-9
    host = json.loads((tmp_path / "machine.json").read_text())
    assert {"cpu", "simd", "torch_cpu_capability", "cores", "numpy", "torch", "blas"} <= set(host)


def test_bench_rejects_unknown_cases(tmp_path):
    done = cli("bench", "--dataset", "sample", "--cases", "scratch,keras", "--out", tmp_path)
    assert done.returncode == 2 and "keras" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bench_rejects_a_batch_size_below_one(tmp_path):
    done = cli("bench", "--dataset", "sample", "--batch-sizes", "10,0", "--out", tmp_path)
    assert done.returncode == 2 and "--batch-sizes" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bench.csv").exists()
