"""The command line: mlp-twins (or python -m experiments) COMMAND ...

    run        a grid of runs into a results folder            experiments.cli.run
    train      one run (a grid of one)                         experiments.cli.run
    search     a search over ranges with Optuna                experiments.cli.search
    inspect    tables, figures, the report, --against          experiments.cli.inspect
    predict    a trained network reads digits from images      experiments.cli.predict
    gradcheck  the hand-written gradients against torch        experiments.cli.gradcheck
    compare-run  your network trained beside the twin           experiments.cli.gradcheck
    bench      seconds per epoch against the alternatives      experiments.cli.bench

Each command's module adds its parser and names the function that does the work below it.
Every user mistake ends with one line on stderr and exit status 2; tracebacks are for bugs.
"""
import sys

from experiments import __version__
from experiments.cli import bench, gradcheck, inspect, predict, run, search
from experiments.cli.args import PROG, Parser
from experiments.cli.output import flush, output_failure
from experiments.errors import Interrupted, UsageError

KEPT = {"train": "; the epoch rows written so far are kept, and the same command trains the run again",
        "run": "; the rows written so far are kept, and the same command resumes",
        "search": "; the runs written so far are kept, and the same command resumes"}
OUTPUT_IS_THE_WORK = ("inspect", "predict")  # whose printing is what they are for


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="mlp-twins: the scratch network and its torch twin")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (run, search, gradcheck, inspect, predict, bench):
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """A command's exit status (SIGTERM is made a Ctrl-C by the console entry, experiments.cli.console)."""
    args = build_parser().parse_args(argv)
    try:
        code = args.command_fn(args)
    except UsageError as e:
        flush()  # what the command printed comes before its error, in a file of both
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"{PROG} {args.command}: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted{KEPT.get(args.command, '')}", file=sys.stderr)
        return 130
    except OSError as e:  # a path the system refuses (a name too long, a loop of links, ...): the user's to fix
        if e.filename is None:
            raise
        print(f"{PROG} {args.command}: error: {e.filename}: {e.strerror or type(e).__name__}; choose another path",
              file=sys.stderr)
        return 2
    flush()
    failure = output_failure()
    if failure is not None:  # not a reader that left (| head): the output could not be written at all
        lost = "its output is lost" if args.command in OUTPUT_IS_THE_WORK else "the results are in their folder"
        print(f"{PROG} {args.command}: could not write to stdout ({failure.strerror or failure}); {lost}",
              file=sys.stderr)
        return 2 if args.command in OUTPUT_IS_THE_WORK else code
    return code
