"""The import graph of pssc_fast/ and kernels/ points one way.

The graph is read statically with ``ast``: every ``import`` and ``from ... import`` statement,
those inside functions included (the lazy ones are imports all the same). An edge goes to the module
a statement names: ``from pssc_fast.ops.primitives import SEForward`` depends on
``pssc_fast.ops.primitives``, not on the package ``pssc_fast.ops`` that Python runs first.
``kernels/`` is the package ``pssc_fast.kernels``, as setup.py installs it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pssc_fast": ROOT / "pssc_fast", "pssc_fast.kernels": ROOT / "kernels"}
# The bottom of the ops package: what the kernels may import, and what imports nothing else from pssc_fast.
OPS_BOTTOM = {"pssc_fast.ops.primitives", "pssc_fast.ops.autograd"}


def _module_files() -> dict[str, Path]:
    files = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join((package, *parts))] = path
    return files


FILES = _module_files()


def _imports(module: str, path: Path):
    """(line, imported module, imported names) for every import statement of ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield node.lineno, base, tuple(alias.name for alias in node.names)


def _edges(module: str) -> dict[str, tuple[int, str]]:
    """The modules of pssc_fast that ``module`` imports -> (line, names imported from it)."""
    edges = {}
    for line, base, names in _imports(module, FILES[module]):
        # `from package import submodule` depends on the submodule; other names on ``base`` itself.
        targets = [f"{base}.{n}" if f"{base}.{n}" in FILES else base for n in names] or [base]
        for target in targets:
            while target and target not in FILES:  # `import pssc_fast.x.y` of a non-module name
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.setdefault(target, (line, ", ".join(names)))
    return edges


GRAPH = {module: _edges(module) for module in FILES}


def _cycle():
    """One import cycle as a list of modules, or None."""
    state = {}  # module -> "open" while on the stack, "done" after

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target, stack + [target])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(GRAPH):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_the_graph_sees_the_packages():
    assert OPS_BOTTOM <= set(FILES), f"missing modules: {sorted(OPS_BOTTOM - set(FILES))}"
    assert "pssc_fast.ops" in GRAPH["pssc_fast.losses"]  # `from . import ops`
    assert "pssc_fast.ops.primitives" in GRAPH["pssc_fast.kernels.self_expression"]


def test_no_import_cycles():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_are_static():
    """No module imports by a computed name, which this graph (and any reader) could not follow."""
    found = [f"{module}:{node.lineno}" for module, path in FILES.items()
             for node in ast.walk(ast.parse(path.read_text()))
             if (isinstance(node, ast.Attribute) and node.attr == "import_module")
             or (isinstance(node, ast.Name) and node.id == "__import__")]
    assert not found, f"imports by computed name at {found}"


@pytest.mark.parametrize("module", sorted(m for m in FILES if m.startswith("pssc_fast.kernels")))
def test_kernels_import_only_the_bottom_of_ops(module):
    outside = {target: at for target, at in GRAPH[module].items()
               if not target.startswith("pssc_fast.kernels") and target not in OPS_BOTTOM}
    assert not outside, f"{module} imports {outside}; from pssc_fast it may import only {sorted(OPS_BOTTOM)}"


@pytest.mark.parametrize("module", sorted(OPS_BOTTOM))
def test_the_bottom_of_ops_imports_nothing_above_it(module):
    assert module in GRAPH, f"{module} does not exist"
    above = {target: at for target, at in GRAPH[module].items() if target not in OPS_BOTTOM}
    assert not above, f"{module} imports {above}"


def test_ops_imports_nothing_else_of_pssc_fast():
    """The ops package stands on its own (and on the kernels): the estimators import it, never the reverse."""
    ops = [m for m in FILES if m == "pssc_fast.ops" or m.startswith("pssc_fast.ops.")]
    outside = {(m, target): at for m in ops for target, at in GRAPH[m].items()
               if not (target == "pssc_fast.ops" or target.startswith(("pssc_fast.ops.", "pssc_fast.kernels")))}
    assert not outside, f"imports from outside ops: {outside}"


def test_no_module_imports_private_names_of_another():
    found = [f"{module}:{line} imports {name} from {base}" for module, path in FILES.items()
             for line, base, names in _imports(module, path) if base in FILES
             for name in names if name.startswith("_") and not name.startswith("__") and f"{base}.{name}" not in FILES]
    assert not found, found


def test_the_parameter_table_sits_at_the_bottom():
    """pssc_fast/params.py gives the defaults to losses, train and affinity, so it may import nothing above
    them: from pssc_fast only the ops package (for the list of backends)."""
    above = {target: at for target, at in GRAPH["pssc_fast.params"].items() if target != "pssc_fast.ops"}
    assert not above, f"pssc_fast.params imports {above}"


def test_only_the_estimators_build_on_the_shared_core():
    users = sorted(m for m, edges in GRAPH.items() if "pssc_fast.core" in edges)
    assert set(users) <= {"pssc_fast.estimator", "pssc_fast.large"}, users
