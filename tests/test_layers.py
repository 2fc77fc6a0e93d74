"""The apps are layers that run one way, config <- credits <- usage <- analytics, with no import cycles.

Every import counts, the ones inside functions and under TYPE_CHECKING too: an import a
lower layer hides in a function still makes it unable to live without the higher one.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("config", "credits", "usage", "analytics")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for layer in LAYERS for path in sorted((ROOT / layer).rglob("*.py"))}


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name the module imports, relative imports made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imported_modules(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """The project modules among the imported names (`from a import b` imports module a.b if there is one)."""
    return {name for name in imported_names(path, module) if name in modules and name != module}


def layer_of(dotted: str) -> int | None:
    top = dotted.partition(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def upward_imports() -> list[str]:
    found = []
    for module, path in project_modules().items():
        for name in sorted(imported_names(path, module)):
            if (layer_of(name) or 0) > layer_of(module):
                found.append(f"{module} imports {name}")
    return found


def mutual_imports() -> list[str]:
    modules = project_modules()
    graph = {module: imported_modules(path, module, modules) for module, path in modules.items()}
    return sorted(
        f"{module} <-> {other}"
        for module, others in graph.items()
        for other in others
        if module < other and module in graph.get(other, set()) and not _is_package_of(module, other)
    )


def _is_package_of(package: str, module: str) -> bool:
    # A package's __init__ re-exporting its own submodule is how a package is made, not a cycle.
    return module.startswith(f"{package}.")


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_no_two_modules_import_each_other():
    assert mutual_imports() == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def later():\n    from analytics.services import x\n", "analytics.services.x"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import usage.models\n", "usage.models"),
        ("from .sibling import thing\n", "credits.sibling.thing"),
    ],
)
def test_imports_in_functions_under_type_checking_and_relative_ones_are_all_seen(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert expected in imported_names(path, "credits.module")


MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def source_files() -> list[Path]:
    """Every module outside migrations and tests: the code a reader must take in one piece at a time."""
    return [
        path
        for top in (*LAYERS, "bench")
        for path in sorted((ROOT / top).rglob("*.py"))
        if "migrations" not in path.parts and "out" not in path.relative_to(ROOT / top).parts[:1]
    ]


def test_no_module_is_longer_than_a_reader_takes_in():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in source_files()}
    assert {module: lines for module, lines in lengths.items() if lines > MAX_MODULE_LINES} == {}


def test_no_function_is_longer_than_a_screen():
    long = {}
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}
