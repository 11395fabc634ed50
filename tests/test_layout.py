"""The harness reads as a map: a subpackage per role, no import cycles, and an import inside a
function only where it keeps a heavy library (torch, matplotlib, an optional extra) out of a
process that does not need it, saying so."""
import ast
from pathlib import Path

import experiments

ROOT = Path(experiments.__file__).parent
ROLES = {"spec", "data", "store", "execution", "analysis", "tools", "cli"}


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("experiments", *path.relative_to(ROOT).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, names: set[str]) -> set[str]:
    """The project's modules a file imports (anywhere in it), as the module names they resolve to."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if isinstance(node, ast.ImportFrom) \
            and node.module else []
        for target in targets:
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def test_experiments_is_a_subpackage_per_role():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == ROLES
    loose = {p.name for p in ROOT.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "errors.py", "host.py"}
    for role in ROLES:  # each subpackage says what it holds
        assert ast.get_docstring(ast.parse((ROOT / role / "__init__.py").read_text()))


def test_no_import_cycles():
    names = modules()
    graph = {m: {t for t in imports(p, set(names)) if t != m and not m.startswith(t + ".")}
             for m, p in names.items()}
    # a cycle is a module that reaches itself: depth-first from each module over its imports
    for start in graph:
        seen, stack = set(), list(graph[start])
        while stack:
            module = stack.pop()
            assert module != start, f"{start} imports itself through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                stack.extend(graph[module])


def test_an_import_inside_a_function_says_why():
    unexplained = []
    for path in sorted(ROOT.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    group = lines[max(inner.lineno - 4, 0):inner.lineno]  # its line, or its group's
                    if not any("#" in line for line in group):
                        unexplained.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {lines[inner.lineno - 1]}")
    assert unexplained == []
