"""The import contracts of DESIGN.md section 2, checked on the source: the arrows of the house.

Every ``import`` of every module under ``src/mlp`` is read with :mod:`ast`, at module level and
inside functions alike (a lazy import still ties two modules together); only imports under
``if TYPE_CHECKING:`` are left out, as they never run. The Cython sources of ``mlp/kernels`` are
read line by line for their ``import`` / ``cimport`` / ``include`` lines.

Each contract names the modules it governs and what they may not import. The last tests plant
violations in a scratch tree and check that every contract catches them, so a scanner that sees
nothing cannot pass.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Set, Tuple

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

Graph = Dict[str, Set[str]]


# ---------------------------------------------------------------------------- reading imports
def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterable[ast.stmt]:
    """Every import statement of ``tree``, at any depth, except those under TYPE_CHECKING."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def read_graph(root: Path, package: str = "mlp") -> Graph:
    """``{module: modules of package it imports}`` for every ``.py`` file under root/package."""
    files = {module_name(root, path): path for path in (root / package).rglob("*.py")}
    graph: Graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: Set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                names: List[str] = []
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                bases, names = [base], [alias.name for alias in node.names]
            for base in bases:
                if base != package and not base.startswith(package + "."):
                    continue
                submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in files]
                targets.update(submodules or [base])
                if len(submodules) < len(names):   # names taken from the module itself
                    targets.add(base)
        targets.discard(name)
        # importing a.b.c runs the __init__ of a.b too (not of the top package, the face, nor
        # of a package the importer itself is in: that one was run before the importer)
        for target in list(targets):
            parent = target.rpartition(".")[0]
            while parent and parent != package:
                if not (name == parent or name.startswith(parent + ".")):
                    targets.add(parent)
                parent = parent.rpartition(".")[0]
        graph[name] = {t for t in targets if t in files}
    return graph


CYTHON_IMPORT = re.compile(
    r"^\s*(?:from\s+(\S+)\s+c?import|c?import\s+(\S+)|include\s+\"([^\"]+)\")")


def cython_imports(root: Path, package: str = "mlp") -> Dict[str, Set[str]]:
    """``{kernel source: what it imports}`` for the .pyx / .pxd files under root/package/kernels."""
    found = {}
    for path in sorted((root / package / "kernels").glob("*.p[yx][xd]")):
        names = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            match = CYTHON_IMPORT.match(line)
            if match:
                names.add(next(group for group in match.groups() if group))
        found[path.name] = names
    return found


# ---------------------------------------------------------------------------------- contracts
def within(*prefixes: str) -> Callable[[str], bool]:
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


CONTRACTS: List[Tuple[str, Callable[[str], bool], Callable[[str, str], bool]]] = [
    # (what it says, which modules it governs, forbidden(importer, imported))
    ("kernels import nothing of mlp but the kernels",
     within("mlp.kernels"), lambda a, b: not within("mlp.kernels")(b)),
    ("backends know no layers, models, optimizers, training, saving or cli",
     within("mlp.backends"),
     lambda a, b: not within("mlp.backends", "mlp.kernels", "mlp._threading")(b)),
    ("nn and optim know no backend internals, no Cython, no model and no training",
     within("mlp.nn", "mlp.optim"),
     lambda a, b: (within("mlp.kernels", "mlp._threading", "mlp._config", "mlp.model",
                          "mlp.training", "mlp.saving", "mlp.io", "mlp.cli")(b)
                   or (within("mlp.backends")(b) and b not in ("mlp.backends",
                                                               "mlp.backends.base")))),
    ("training talks to backends only through backends/base.py (and get_backend)",
     within("mlp.training"),
     lambda a, b: (within("mlp.kernels", "mlp._threading", "mlp._config", "mlp.model",
                          "mlp.saving", "mlp.io", "mlp.cli")(b)
                   or (within("mlp.backends")(b) and b not in ("mlp.backends",
                                                               "mlp.backends.base")))),
    ("saving does not import training, the model class or the cli",
     within("mlp.saving"),
     lambda a, b: within("mlp.training", "mlp.model", "mlp.io", "mlp.cli", "mlp.kernels")(b)),
    ("the file format knows no model",
     within("mlp.saving.format"), lambda a, b: b != "mlp._version"),
    ("the model holds structure: it reaches backends through their interface only",
     within("mlp.model"),
     lambda a, b: within("mlp.kernels", "mlp._threading", "mlp.cli", "mlp.io")(b)
     or (within("mlp.backends")(b) and b not in ("mlp.backends", "mlp.backends.base"))),
    ("distributed knows no model, saving or cli, and backends only through backends/base.py",
     within("mlp.distributed"),
     lambda a, b: (within("mlp.kernels", "mlp.model", "mlp.training", "mlp.saving", "mlp.io",
                          "mlp.cli", "mlp.nn", "mlp.optim")(b)
                   or (within("mlp.backends")(b) and b not in ("mlp.backends",
                                                               "mlp.backends.base")))),
    ("nothing but cli imports cli",
     lambda name: not within("mlp.cli", "mlp.__main__")(name), lambda a, b: within("mlp.cli")(b)),
    ("the scikit-learn adapter is on top: nothing of the engine imports it",
     lambda name: not within("mlp.sklearn")(name), lambda a, b: within("mlp.sklearn")(b)),
    ("the scikit-learn adapter uses the public model API, no engine internals",
     within("mlp.sklearn"),
     lambda a, b: within("mlp.kernels", "mlp.backends", "mlp.training", "mlp.saving",
                         "mlp.cli")(b)),
]


def contract_violations(graph: Graph) -> List[str]:
    found = []
    for rule, governs, forbidden in CONTRACTS:
        for importer in sorted(graph):
            if governs(importer):
                found += [f"{rule}: {importer} imports {imported}"
                          for imported in sorted(graph[importer]) if forbidden(importer, imported)]
    return found


def cycles(graph: Graph) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan), or self-loops."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def kernel_violations(root: Path, package: str = "mlp") -> List[str]:
    allowed_headers = {path.name for path in (root / package / "kernels").glob("*.h")}
    found = []
    for source, names in cython_imports(root, package).items():
        for name in sorted(names):
            if name.startswith(".") and name.lstrip(".") and (
                    root / package / "kernels" / (name.lstrip(".") + ".pxd")).exists():
                continue                                # a sibling .pxd of the kernels
            if name.endswith(".h") and name in allowed_headers:
                continue
            if name == package or name.startswith(package + ".") or name.startswith("."):
                found.append(f"kernels import nothing of mlp: {source} imports {name}")
    return found


# -------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def graph() -> Graph:
    return read_graph(SRC)


def test_the_scanner_sees_the_house(graph):
    assert len(graph) > 30
    assert "mlp.training.trainer" in graph["mlp.model"]
    assert "mlp.backends.base" in graph["mlp.training.trainer"]
    assert "mlp.kernels._kernels" not in graph  # a compiled module, no .py source
    assert cython_imports(SRC)["_kernels.pyx"]


def test_no_import_circles(graph):
    assert cycles(graph) == []


def test_import_contracts(graph):
    assert contract_violations(graph) == []


def test_kernels_import_nothing_of_mlp():
    assert kernel_violations(SRC) == []


# ------------------------------------------------------------------- the tests can fail
PLANTED = {
    "mlp/__init__.py": "",
    "mlp/_threading.py": "from .kernels import _kernels\n",
    "mlp/model.py": "from .training import trainer\nfrom .backends import cpu\n",
    "mlp/io.py": "",
    "mlp/kernels/__init__.py": "from .. import model\n",
    "mlp/kernels/_kernels.pyx": "from ._blas cimport gemm\nfrom mlp.backends import base\n",
    "mlp/kernels/_blas.pxd": "",
    "mlp/backends/__init__.py": "",
    "mlp/backends/base.py": "",
    "mlp/backends/cpu.py": "import mlp.nn.layers\n",
    "mlp/nn/__init__.py": "",
    "mlp/nn/layers.py": ("def f():\n    from ..backends.cpu import x\n"
                         "    from .. import _threading\n"),
    "mlp/optim/__init__.py": "",
    "mlp/optim/adam.py": "from mlp.kernels import _kernels\n",
    "mlp/training/__init__.py": "",
    "mlp/training/trainer.py": "from ..backends import cpu\nfrom ..cli import commands\n",
    "mlp/saving/__init__.py": "",
    "mlp/saving/format.py": "from ..model import Sequential\n",
    "mlp/saving/model.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from ..model import Sequential\nfrom ..training import trainer\n"),
    "mlp/cli/__init__.py": "",
    "mlp/cli/commands.py": "def main():\n    from mlp import model\n",
    "mlp/distributed/__init__.py": "",
    "mlp/distributed/plan.py": "from ..backends.cpu_plan import FusedCPUPlan\n",
    "mlp/backends/cpu_plan.py": "",
    "mlp/data.py": "from .cli.commands import main\n",
    "mlp/metrics.py": "def f():\n    from .sklearn import MLPClassifier\n",
    "mlp/sklearn/__init__.py": "",
    "mlp/sklearn/_base.py": "from ..training.trainer import Trainer\n",
    "mlp/a.py": "def lazy():\n    from . import b\n",
    "mlp/b.py": "from .a import lazy\n",
}


@pytest.fixture
def planted(tmp_path) -> Path:
    for relative, text in PLANTED.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_planted_circle_is_found_even_through_a_lazy_import(planted):
    found = cycles(read_graph(planted))
    assert ["mlp.a", "mlp.b"] in found
    # nn.layers -> backends.cpu -> nn.layers, and the lazy kernels/model loop
    assert any("mlp.nn.layers" in c and "mlp.backends.cpu" in c for c in found)


def test_every_contract_catches_a_planted_violation(planted):
    found = "\n".join(contract_violations(read_graph(planted)))
    for rule, _, _ in CONTRACTS:
        assert rule in found, rule
    assert "mlp.nn.layers imports mlp.backends.cpu" in found           # a lazy import counts
    assert "mlp.nn.layers imports mlp._threading" in found
    assert "mlp.optim.adam imports mlp.kernels" in found
    assert "mlp.saving.model imports mlp.training.trainer" in found
    assert "mlp.saving.model imports mlp.model" not in found          # TYPE_CHECKING only
    assert "mlp.data imports mlp.cli.commands" in found
    assert "mlp.metrics imports mlp.sklearn" in found
    assert "mlp.sklearn._base imports mlp.training.trainer" in found


def test_a_planted_cython_import_is_found(planted):
    assert kernel_violations(planted) == [
        "kernels import nothing of mlp: _kernels.pyx imports mlp.backends"]
