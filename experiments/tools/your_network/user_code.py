"""The user's code: imported from a file or a module, built with the layer sizes, and called so
that whatever it raises reaches the user as their own traceback, cut down to their frames."""
import contextlib
import functools
import importlib
import importlib.util
import inspect
import site
import sys
import sysconfig
import traceback
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

import torch_ref
from experiments.errors import UsageError


class UserCodeError(UsageError):
    """The user's code raised. str(e) is `summary` (one line) followed by `user_traceback`: the
    traceback cut down to the frames of the user's own files (no frame of this project, of
    importlib or of an installed library), ending with the exception's own line."""

    def __init__(self, summary: str, error: BaseException, user_dirs: list[Path]):
        self.summary = summary
        self.user_traceback = user_traceback(error, user_dirs)
        super().__init__(f"{summary}\n{self.user_traceback}")


@functools.cache
def not_users() -> list[Path]:
    """Folders whose frames are never the user's: this project's harness and every library."""
    paths = sysconfig.get_paths()
    folders = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    folders.append(site.getusersitepackages())
    return [Path(f).resolve() for f in folders] + [Path(__file__).resolve().parents[2],
                                                     Path(torch_ref.__file__).resolve().parent]


def is_users(filename: str, user_dirs: list[Path]) -> bool:
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    path = Path(filename).resolve()
    return (any(path.is_relative_to(d) for d in user_dirs)
            and not any(path.is_relative_to(d) for d in not_users()))


def user_traceback(error: BaseException, user_dirs: list[Path]) -> str:
    """The traceback of `error` with only the frames of files under `user_dirs`, and its last line
    (for a SyntaxError, the offending line and its caret)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_users(f.filename, user_dirs)]
    lines = (["Traceback of your code (most recent call last):\n"] + traceback.format_list(frames)) if frames else []
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines).rstrip("\n")


def user_dirs(net: object) -> list[Path]:
    """The folders of the files that define the network's class and its base classes."""
    dirs = []
    for cls in type(net).__mro__:
        try:
            dirs.append(Path(inspect.getfile(cls)).resolve().parent)
        except (TypeError, OSError):  # a built-in class such as object
            pass
    return dirs


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def call(net: object, method: str, *args):
    """net.method(*args); whatever it raises is the user's, a UserCodeError."""
    try:
        return getattr(net, method)(*args)
    except Exception as e:
        raise UserCodeError(f"your network's {method} raised {first_line(e)}", e, user_dirs(net)) from e


@contextlib.contextmanager
def one_thread():
    """numpy's BLAS and torch on one thread each, as long as the block runs. The products here are
    small (a batch of 10), and two thread pools that take turns on shared cores spin against each
    other: a run of compare_training took 10 s instead of 1 s on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


def load_network(spec: str, sizes: list[int]) -> object:
    """The network `spec` names, built for the layer sizes: NAME(sizes).

    spec: "PATH.py:NAME" (a file; its folder is on sys.path while it is imported, so that it can
    import its neighbours) or "module:NAME" (a module importable from sys.path). NAME is a class,
    called like Nielsen's Network([784, 30, 10]), or a function called the same way. The file is
    imported as a module of its own, not as __main__: code under `if __name__ == "__main__":`
    does not run.

    Raises UsageError for a spec, file, module or name that is not there, and UserCodeError when
    the user's code raises while it is imported or built (a SyntaxError included)."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise UsageError(f"--network {spec!r}: write PATH.py:NAME or module:NAME, e.g. network.py:Network")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module, dirs = import_file(Path(where))
    else:
        module, dirs = import_module(where)
    make = getattr(module, name, None)
    if make is None:
        defined = sorted(k for k, v in vars(module).items()
                         if callable(v) and getattr(v, "__module__", None) == module.__name__)
        raise UsageError(f"{where} has no {name!r}; it defines {', '.join(defined) or 'no class or function'}")
    if not callable(make):
        raise UsageError(f"{where}:{name} is a {type(make).__name__}, not a class or function to call with the sizes")
    try:
        return make(list(sizes))
    except Exception as e:
        raise UserCodeError(f"{name}({list(sizes)}) raised {first_line(e)}", e, dirs) from e


def import_file(path: Path):
    """(module, [its folder]) of a .py file, imported under a name of its own."""
    if path.suffix != ".py" or not path.is_file():
        raise UsageError(f"{path}: no such .py file; give the path to your network's file, e.g. "
                         "path/to/network.py:Network")
    path = path.resolve()
    name = f"your_network_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs, as import does: dataclasses and pickle look it up
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        del sys.modules[name]
        what = f"{path} is not valid Python" if isinstance(e, SyntaxError) else f"importing {path} raised"
        raise UserCodeError(f"{what}: {first_line(e)}", e, [path.parent]) from e
    finally:
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module, [path.parent]


def import_module(name: str):
    """(module, [its folder]) of a module importable from sys.path."""
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is missing
        found = None
    except (Exception, SystemExit) as e:  # a parent package raised as it was imported
        raise UserCodeError(f"importing {name} raised {first_line(e)}", e, [Path.cwd()]) from e
    if found is None:
        raise UsageError(f"no module named {name!r} on the Python path; give the file instead, "
                         f"e.g. path/to/{name.rpartition('.')[2]}.py:NAME")
    dirs = [Path(found.origin).resolve().parent] if found.has_location else [Path.cwd()]
    try:
        return importlib.import_module(name), dirs
    except (Exception, SystemExit) as e:
        raise UserCodeError(f"importing {name} raised {first_line(e)}", e, dirs) from e

