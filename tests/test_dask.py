"""A grid sent to a local Dask cluster of 2 worker processes writes the tables of a local run."""
import pytest

from tests.helpers import assert_same_tables, cli, write_grid

pytest.importorskip("distributed")


def test_local_cluster_matches_a_local_run(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", lr=[0.1, 0.5], impl=["scratch", "torch"])
    local = cli("run", "--grid", grid, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    dask = cli("run", "--grid", grid, "--out", tmp_path / "dask", "--scheduler", "local:2")
    assert dask.returncode == 0, dask.stderr
    assert_same_tables(tmp_path / "local", tmp_path / "dask")
    again = cli("run", "--grid", grid, "--out", tmp_path / "dask", "--scheduler", "local:2")
    assert again.returncode == 0 and "8 already complete" in again.stdout


def test_bad_scheduler_is_a_usage_error(tmp_path):
    done = cli("run", "--scheduler", "udp://nowhere", "--set", "epochs=1", "--out", tmp_path / "out")
    assert done.returncode == 2 and "tcp://HOST:8786 or local:N" in done.stderr
    done = cli("run", "--scheduler", "tcp://127.0.0.1:1", "--set", "epochs=1", "--set", "impl=scratch",
               "--out", tmp_path / "out2")
    assert done.returncode == 2 and "cannot reach the Dask scheduler" in done.stderr
