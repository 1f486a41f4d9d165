"""The package's layers: every import, lazy ones inside functions included, goes to a lower layer or
stays within its own package, and no module imports, directly or through others, one that imports it."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vqcodec"
# Each unit (a subpackage, or a module at the top level) and its layer: a unit imports only units of
# lower layers. Units of one layer (the two encoders, say) never import each other.
LAYERS = {
    "errors": 0, "pipeline": 0,
    "options": 1, "files": 1,
    "images": 2, "train": 2,
    "metrics": 3, "format": 3,
    "classic": 4, "rd": 4,
    "api": 5,
    "bench": 6,
    "cli": 7,
    "integrations": 8,  # Dask runs the command's own jobs
    "numcodecs": 9, "zarr3": 9, "__init__": 9, "__main__": 9,  # the public import paths
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules) -> set[str]:
    """The vqcodec modules `name` imports anywhere in its source; `from vqcodec import __version__` is
    the package's metadata, not its API, and is left out."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names if base != "vqcodec" or alias.name != "__version__"]
            candidates = [f"{base}.{n}" for n in names] + ([base] if names else [])
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules and "." in candidate:
                candidate = candidate.rpartition(".")[0]
            if candidate in modules and candidate != name:
                targets.add(candidate)
                break
    return targets


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def unit(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_unit_has_a_layer():
    assert {unit(m) for m in MODULES} <= set(LAYERS), {unit(m) for m in MODULES} - set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    upward = sorted(target for target in GRAPH[module]
                    if unit(target) != unit(module) and LAYERS[unit(target)] >= LAYERS[unit(module)])
    assert not upward, f"{module} (layer {LAYERS[unit(module)]}) imports {upward}"


def test_no_import_cycles():
    """Tarjan's strongly connected components: any of more than one module is a cycle."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_graph_sees_lazy_imports():
    """The check reads imports inside functions too: the classic encoder imports the nearest-codeword
    search only when it assigns blocks."""
    assert "vqcodec.train.nearest" in GRAPH["vqcodec.classic.encode"]
    assert "vqcodec.format.order" in GRAPH["vqcodec.rd.encode"]
