"""A grid sent to a local Dask cluster of 2 worker processes writes the tables of a local run."""
import pytest

from tests.helpers import assert_same_tables, cli

pytest.importorskip("distributed")


def test_local_cluster_matches_a_local_run(reference, tmp_path):
    grid, ref = reference
    dask = cli("run", "--grid", grid, "--out", tmp_path / "dask", "--scheduler", "local:2")
    assert dask.returncode == 0, dask.stderr
    assert_same_tables(ref, tmp_path / "dask")


@pytest.mark.parametrize("address,named", [("udp://nowhere", "tcp://HOST:8786 or local:N"),
                                           ("tcp://localhost:abc", "numeric port"),
                                           ("local:0", "local:N with N >= 1"),
                                           ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler")])
def test_bad_scheduler_is_a_usage_error(tmp_path, address, named):
    done = cli("run", "--scheduler", address, "--set", "epochs=1", "--set", "impl=scratch", "--out", tmp_path / "out")
    assert done.returncode == 2 and named in done.stderr and len(done.stderr.strip().splitlines()) == 1
