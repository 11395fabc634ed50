"""experiments.execution.interrupts: each private piece of multiprocessing that a Ctrl-C relies
on, checked on its own, so that a Python upgrade that moves one fails here (test_faults checks
the whole: a signal ends a grid within seconds, workers included, printing one line)."""
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import get_context

import psutil

from experiments.execution.interrupts import kill_workers, pool_processes


def test_kill_workers_ends_a_busy_pool_at_once():
    pool = ProcessPoolExecutor(2, mp_context=get_context("spawn"))
    futures = [pool.submit(time.sleep, 60) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(pool_processes(pool)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [psutil.Process(p.pid) for p in pool_processes(pool)]
    assert len(workers) == 2  # the pool's table of processes is where it was
    kill_workers(pool)
    gone, alive = psutil.wait_procs(workers, timeout=5)  # their units would sleep for 60 s
    assert not alive
    # the pool's own thread fails the units left, soon after, rather than let them wait forever
    done, not_done = wait(futures, timeout=10)
    assert not not_done
    assert all(isinstance(f.exception(), Exception) for f in done)


def in_a_process(code: str) -> subprocess.CompletedProcess:
    """These touch the process's own multiprocessing state: each runs in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_unlink_semaphores_runs_the_finalizers_of_queues():
    done = in_a_process("""
        from multiprocessing import get_context, util
        from experiments.execution.interrupts import unlink_semaphores
        ran = []
        queue = get_context("spawn").Queue()
        util.Finalize(queue, lambda: ran.append(True), exitpriority=0)
        unlink_semaphores()
        print("ran" if ran else "did not run")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr


def test_stop_resource_tracker_ends_the_tracker_process():
    done = in_a_process("""
        import time
        from multiprocessing import resource_tracker
        import psutil
        from experiments.execution.interrupts import stop_resource_tracker
        resource_tracker.ensure_running()
        pid = resource_tracker._resource_tracker._pid
        stop_resource_tracker()
        gone, alive = psutil.wait_procs([psutil.Process(pid)], timeout=5)
        print("stopped" if not alive else "alive")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr


def test_a_process_a_thread_starts_while_sigint_is_blocked_is_born_deaf_to_it():
    """As a Dask cluster starts its workers: from a thread of its own, with multiprocessing's
    resource tracker not yet running (a fresh interpreter), whose first start unblocks SIGINT."""
    script = textwrap.dedent("""
        import multiprocessing, signal, threading, time
        from experiments.execution.workers import born_deaf_to_ctrl_c
        if __name__ == "__main__":
            started = []
            def start():
                process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
                process.start()
                started.append(process)
            with born_deaf_to_ctrl_c(True):
                thread = threading.Thread(target=start)
                thread.start()
                thread.join()
            (process,) = started
            with open(f"/proc/{process.pid}/status") as f:
                blocked = next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))
            process.kill()
            print(bool(blocked & (1 << (signal.SIGINT - 1))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
