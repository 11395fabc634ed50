"""The README's Python says what it does: its first example prints the count of test digits the
comment promises (a range: the last bits of BLAS differ by CPU), and the second loads a committed
network."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_books_loop_gets_the_count_the_readme_says():
    first = examples()[0]
    low, high = map(int, re.search(r"# Epoch 30: (\d+)-(\d+) / 1000", first).groups())
    done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    count = int(re.fullmatch(r"Epoch 30: (\d+) / 1000", last).group(1))
    assert low <= count <= high


def test_the_best_network_of_a_committed_folder_loads():
    second = examples()[1] + "\nprint(net.sizes, net.activation.name)"
    done = subprocess.run([sys.executable, "-c", second], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[784, 16, 16, 10]")
