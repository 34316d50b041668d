"""Imports point down: every library module imports on its own, and the static import
graph of the library has no cycle, no upward import, no import of an experiment or a
script, and no function-local import of a project module.

The static walk reads the sources with `ast` (no TensorFlow); each test reports every
violation it finds in one message.
"""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("train", "stylize", "evaluate", "studio")
# Above every library package: library code imports none of them.
FORBIDDEN = ("experiments", "tests") + SCRIPTS
# The layers, bottom to top: storage -> data, losses, models -> painting -> video ->
# training, evaluation. Each package may import itself and the packages listed for it.
MAY_IMPORT = {
    "storage": (),
    "data": ("storage", "losses", "models"),
    "losses": ("storage", "data", "models"),
    "models": ("storage", "data", "losses"),
    "painting": ("storage", "data", "losses", "models"),
    "video": ("storage", "data", "losses", "models", "painting"),
    "evaluation": ("storage", "data", "losses", "models", "painting", "video"),
    "training": ("storage", "data", "losses", "models", "painting", "evaluation"),
}
LIBRARY = tuple(package for package in MAY_IMPORT if (ROOT / package).is_dir())
PROJECT = LIBRARY + FORBIDDEN


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_files():
    return {module_name(path): path for package in LIBRARY
            for path in sorted((ROOT / package).rglob("*.py"))}


def is_module(name):
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(node, importer):
    """The project modules one import statement names: `from a import b` names a.b
    when that is a module, else a."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer.split(".")
            if not (ROOT.joinpath(*package) / "__init__.py").is_file():
                package = package[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base
                 for alias in node.names]
    return [name for name in names if name.split(".")[0] in PROJECT]


def imports_of(tree, importer):
    """(line, imported module, enclosing function or None) of every project import."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((child.lineno, name, function)
                             for name in imported_modules(child, importer))
            inner = (child.name if isinstance(child, (ast.FunctionDef,
                                                      ast.AsyncFunctionDef))
                     else function)
            visit(child, inner)

    visit(tree, None)
    return found


def import_graph():
    """{module: [(line, imported module, enclosing function or None)]} of the library."""
    return {name: imports_of(ast.parse(path.read_text(), str(path)), name)
            for name, path in library_files().items()}


def cycles(graph):
    """One cycle, as a list of modules, per strongly connected group of the library's
    modules (Tarjan's algorithm over the imports between library modules)."""
    edges = {name: sorted({target for _, target, _ in imports if target in graph})
             for name, imports in graph.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(name):
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in edges[name]:
            if target not in index:
                connect(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group, member = set(), None
            while member != name:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
            if len(group) > 1 or name in edges[name]:
                groups.append(group)

    for name in sorted(edges):
        if name not in index:
            connect(name)
    return [cycle_through(min(group), edges, group) for group in groups]


def cycle_through(start, edges, group):
    """A shortest path start -> ... -> start inside one strongly connected group."""
    paths, seen = [[start]], set()
    while paths:
        path = paths.pop(0)
        for target in edges[path[-1]]:
            if target == start:
                return path + [start]
            if target in group and target not in seen:
                seen.add(target)
                paths.append(path + [target])
    raise AssertionError(f"{sorted(group)} is not a cycle through {start}")


def violations(graph, files):
    """Every rule an import of `graph` breaks, as sentences; `files`: module -> path."""
    found = []
    for importer, imports in sorted(graph.items()):
        package = importer.split(".")[0]
        for line, target, function in imports:
            where = f"{files[importer].relative_to(ROOT)}:{line} imports {target}"
            top = target.split(".")[0]
            if top in FORBIDDEN:
                found.append(f"{where}: library code must not import experiments, "
                             f"tests or a script")
            elif top != package and top not in MAY_IMPORT[package]:
                found.append(f"{where}: {package} may import only "
                             f"{', '.join(MAY_IMPORT[package]) or 'itself'}")
            if function is not None:
                found.append(f"{where} inside {function}(): project imports belong at "
                             f"the top of the module")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def test_import_graph_points_down():
    graph = import_graph()
    assert set(graph) >= {"data.pipeline", "training.loop", "storage.atomic"}
    problems = violations(graph, library_files())
    assert not problems, "Imports that do not point down:\n  " + "\n  ".join(problems)


def test_the_checks_see_cycles_upward_and_local_imports():
    graph = {"data.a": [(1, "data.b", None)], "data.b": [(3, "data.c", "load")],
             "data.c": [(2, "data.a", None), (4, "experiments.common", None),
                        (5, "training.loop", None)]}
    files = {name: ROOT / "data" / f"{name[5:]}.py" for name in graph}
    problems = violations(graph, files)
    assert problems == [
        "data/b.py:3 imports data.c inside load(): project imports belong at the top "
        "of the module",
        "data/c.py:4 imports experiments.common: library code must not import "
        "experiments, tests or a script",
        "data/c.py:5 imports training.loop: data may import only storage, losses, models",
        "import cycle: data.a -> data.b -> data.c -> data.a"]


# Run in one fresh interpreter: before each module, every project module is dropped
# from sys.modules, so each is the first project module imported (a cycle that only
# breaks when entered from one side shows), while TensorFlow is loaded only once.
IMPORT_EACH = """
import importlib, sys, traceback
project = set(sys.argv[1].split(","))
failed = []
for name in sys.argv[2:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in project]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
"""


def test_each_library_module_imports_alone():
    modules = sorted(library_files())
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, ",".join(PROJECT), *modules], cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not result.stdout.strip(), ("Modules that fail to import alone:\n"
                                       + result.stdout)
