"""A tiny run of the benchmark, so that it keeps working, and its answers to bad arguments."""
import json

import pandas as pd
import pytest

from tests.helpers import cli


def test_bench_on_the_sample(tmp_path):
    """Cases of each kind (a twin, a stack, a baseline) run in processes of their own and are
    timed; machine.json names the host. (Every case trains through the code the other tests
    test: build and build_stack of the grids, and the baselines of test_network.)"""
    cases = ["scratch", "batched_torch", "sklearn"]
    done = cli("bench", "--dataset", "sample", "--repeats", "1", "--batch-sizes", "100", "--device", "cpu",
               "--configs", "3", "--cases", ",".join(cases), "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "bench.csv")
    assert sorted(table.case) == sorted(cases) and set(table.batch_size) == {100}
    assert (table.sec_per_epoch > 0).all() and (table.peak_rss_mb > 10).all()
    assert set(table.configs) == {1, 3} and (table[table.case.str.startswith("batched")].configs == 3).all()
    host = json.loads((tmp_path / "machine.json").read_text())
    assert {"cpu", "simd", "torch_cpu_capability", "cores", "numpy", "torch", "blas"} <= set(host)
    assert "scratch" in done.stdout and "speedup_vs_sklearn" in done.stdout


def test_bench_rejects_unknown_cases(tmp_path):
    done = cli("bench", "--dataset", "sample", "--cases", "scratch,keras", "--out", tmp_path)
    assert done.returncode == 2 and "keras" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bench_rejects_a_batch_size_below_one(tmp_path):
    done = cli("bench", "--dataset", "sample", "--batch-sizes", "10,0", "--out", tmp_path)
    assert done.returncode == 2 and "--batch-sizes" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bench.csv").exists()


def test_bench_rejects_a_batch_larger_than_the_training_set(tmp_path):
    done = cli("bench", "--dataset", "sample", "--batch-sizes", "10,5000", "--out", tmp_path)
    assert done.returncode == 2 and "batch_size 5000 is larger than the 4000 training images" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bench.csv").exists()


def test_a_stack_of_more_configurations_than_a_seed_keeps_each_loss_together():
    from experiments.tools.bench import grid_stack
    losses = [c.loss for c in grid_stack(40)]
    assert len(losses) == 40 and len({loss for loss in losses}) == 3
    changes = sum(a != b for a, b in zip(losses[:-1], losses[1:], strict=True))
    assert changes == 2  # three runs of one loss each: a stack applies each loss once per step


@pytest.mark.parametrize("argv,named", [(["--cases", "scratch,scratch"], "--cases lists 'scratch' more than once"),
                                        (["--batch-sizes", "10,10"], "lists a value more than once"),
                                        (["--configs", "1000", "--cases", "batched_scratch"],
                                         "choose fewer --configs or smaller --batch-sizes"),
                                        (["--configs", "100001", "--cases", "batched_scratch"], "at most")])
def test_bench_refuses_repeats_and_stacks_too_large_before_measuring(tmp_path, monkeypatch, argv, named):
    from experiments.execution import limits
    monkeypatch.setattr(limits, "available_memory", lambda: 10 ** 9)  # 1,000 networks need about 1.6 GB
    done = cli("bench", "--dataset", "sample", *argv, "--out", tmp_path)
    assert done.returncode == 2 and named in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "round" not in done.stdout and not (tmp_path / "bench.csv").exists()
