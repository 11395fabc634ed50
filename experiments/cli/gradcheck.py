"""mlp-twins gradcheck: the scratch network's gradients against torch autograd and finite
differences, or, with --network, a network someone else wrote; mlp-twins compare-run: that
network trained beside the torch twin, step by step."""
import argparse
from pathlib import Path

import pandas as pd

from experiments.cli.args import checked, int_at_least, out_folder, sizes, writable
from experiments.data.datasets import load_dataset
from experiments.errors import UsageError
from experiments.store.files import write_atomic

CONVENTIONS = ("nielsen", "rows")


def add_network_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", default="sigmoid", choices=("sigmoid", "relu"),
                   help="your network's hidden activation (default: sigmoid)")
    p.add_argument("--loss", default="mse", choices=("mse", "bce", "ce"),
                   help="the cost your network computes: mse 1/2||a - y||^2, bce sigmoid cross-entropy, ce softmax "
                        "cross-entropy (default: mse)")
    p.add_argument("--convention", default=None, choices=CONVENTIONS,
                   help="how your network lays out its numbers (default: found from the shapes)")


def add_parsers(sub) -> None:
    p = sub.add_parser("gradcheck", help="compare scratch gradients (or your network's) with torch and finite "
                                         "differences")
    p.add_argument("--network", default=None, metavar="PATH.py:NAME",
                   help="check a network you wrote instead: a class or function of your file (or module:NAME), "
                        "called with the layer sizes, see docs/check-your-network.md (default: the scratch network)")
    add_network_flags(p)
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="(default: float64)")
    p.add_argument("--sizes", type=sizes, default=None, help="(default: 784-16-16-10; with --network, 784-30-10)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="(default: 0)")
    p.add_argument("--out", type=out_folder, default=Path("results/gradcheck"), help="(default: results/gradcheck)")
    p.set_defaults(command_fn=gradcheck)

    p = sub.add_parser("compare-run", help="train your network beside the torch twin, step by step, and say where "
                                           "they part")
    p.add_argument("--network", required=True, metavar="PATH.py:NAME",
                   help="a class or function of your file (or module:NAME), called with the layer sizes")
    add_network_flags(p)
    p.add_argument("--sizes", type=sizes, default=(784, 30, 10), help="(default: 784-30-10)")
    p.add_argument("--epochs", type=checked("epochs", int), default=2, help="epochs of the sample data (default: 2)")
    p.add_argument("--batch-size", type=checked("batch_size", int), default=10, help="(default: 10)")
    p.add_argument("--lr", type=checked("lr", float), default=3.0, help="eta (default: 3.0)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seeds the mini-batches (default: 0)")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="largest relative gap between your parameters and the twin's (default: 1e-9)")
    p.set_defaults(command_fn=compare_run)


def network_of(args: argparse.Namespace, sizes_of_run: tuple[int, ...]):
    from experiments.tools import your_network  # torch: only these commands need it
    if sizes_of_run[0] != 784 or sizes_of_run[-1] != 10:
        raise UsageError(f"sizes {'-'.join(map(str, sizes_of_run))} do not fit MNIST; they must start with 784 "
                         "and end with 10, e.g. 784-30-10")
    net = your_network.load_network(args.network, list(sizes_of_run))
    your_network.find_convention(net, list(sizes_of_run), args.convention)
    return your_network, net


def your_gradcheck(args: argparse.Namespace) -> int:
    """gradcheck --network: a line per tensor, and the table in --out."""
    sizes_of_run = args.sizes or (784, 30, 10)
    your_network, net = network_of(args, sizes_of_run)
    out = Path(args.out)
    writable(out)
    checks = your_network.check_gradients(net, list(sizes_of_run), args.activation, args.loss, args.convention,
                                          seed=args.seed)
    write_atomic(out / "gradcheck.csv", pd.DataFrame([c.__dict__ for c in checks]).to_csv(index=False).encode())
    print(your_network.format_checks(checks))
    wrong = sum(not c.ok for c in checks)
    print(f"\n{len(checks) - wrong} / {len(checks)} tensors right ({checks[0].convention} convention); wrote "
          f"{out / 'gradcheck.csv'}")
    return your_network.exit_status(checks)


def compare_run(args: argparse.Namespace) -> int:
    your_network, net = network_of(args, args.sizes)
    train = load_dataset("sample").split(500).arrays("float64")["train"]
    result = your_network.compare_training(net, list(args.sizes), args.activation, args.loss, train.x, train.labels,
                                           args.epochs, args.batch_size, args.lr, args.seed, args.convention,
                                           args.tol)
    print(your_network.format_comparison(result))
    return 0 if result.agrees else 1


def gradcheck(args: argparse.Namespace) -> int:
    if args.network:
        return your_gradcheck(args)
    args.sizes = args.sizes or (784, 16, 16, 10)
    from experiments.tools.gradcheck import TOLERANCES, check_all  # torch: only this command needs it

    out = Path(args.out)
    writable(out)
    checks = check_all(args.dtype, args.sizes, args.seed)
    table = pd.DataFrame([{**c.__dict__, "passed": c.passed} for c in checks])
    write_atomic(out / "gradcheck.csv", table.to_csv(index=False).encode())
    worst = table.assign(l2=table.l2.map("{:g}".format)).pivot_table(
        index=["activation", "loss", "l2"], columns="reference", values="rel_err", aggfunc="max")
    with pd.option_context("display.float_format", "{:.2e}".format, "display.width", 120):
        print(f"largest rel_err over the {len(args.sizes) - 1} layers' weights and biases ({args.dtype}; "
              "tolerances: torch "
              f"{table[table.reference == 'torch'].tolerance.iloc[0]:g}, finite_difference "
              f"{TOLERANCES[args.dtype]['finite_difference']:g} plus the difference quotient's rounding error)\n")
        print(worst.to_string())
    for _, r in table[table.entries == 0].iterrows():
        print(f"note: {r.activation}/{r.loss} l2={r.l2:g} {r.param}: no entry could be compared by finite "
              "differences (each step crossed a ReLU kink); it is checked against torch only")
    failed = table[~table.passed]
    for _, r in failed.iterrows():
        print(f"FAILED {r.activation}/{r.loss} l2={r.l2:g} {r.param} against {r.reference}: "
              f"rel_err {r.rel_err:.2e} > {r.tolerance:g}")
    empty = int((table.entries == 0).sum())
    print(f"\n{len(table) - len(failed)} / {len(table)} checks within tolerance"
          + (f" ({empty} of them with no entry to compare)" if empty else "") + f"; wrote {out / 'gradcheck.csv'}")
    return 1 if len(failed) else 0
