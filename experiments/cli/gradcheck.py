"""mlp-twins gradcheck: the scratch network's gradients against torch autograd and finite differences."""
import argparse
from pathlib import Path

import pandas as pd

from experiments.cli.args import int_at_least, out_folder, sizes, writable
from experiments.store.files import write_atomic


def add_parsers(sub) -> None:
    p = sub.add_parser("gradcheck", help="compare scratch gradients with torch and finite differences")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="(default: float64)")
    p.add_argument("--sizes", type=sizes, default=(784, 16, 16, 10), help="(default: 784-16-16-10)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="(default: 0)")
    p.add_argument("--out", type=out_folder, default=Path("results/gradcheck"), help="(default: results/gradcheck)")
    p.set_defaults(command_fn=gradcheck)


def gradcheck(args: argparse.Namespace) -> int:
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
