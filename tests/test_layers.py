"""The package's layers (README, "Architecture"): a module imports only from its own layer or
lower ones, lazy imports inside functions included, and no module is over 400 lines."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ssrl"

LAYERS = [  # lowest first; the top-level module or package of src/ssrl
    {"errors", "files", "notices", "ranges", "precision", "compiled", "config", "seeding", "distributed", "hashing",
     "finite"},
    {"data", "views", "losses", "backbones", "heads", "collapse", "divergence", "components"},
    {"evaluation"},
    {"modality"},
    {"pretext", "catalog"},
    {"resolve", "runs"},
    {"engine", "run_files"},
    {"report", "word_vectors", "export"},
    {"api", "transfer", "propagate_eval"},
    {"bench", "demo"},
    {"cli", "cli_output", "__main__", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
MODULES = sorted(SRC.rglob("*.py"))


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ssrl":
            found.add(_part(node.module))
        elif isinstance(node, ast.Import):
            found |= {_part(a.name) for a in node.names if a.name.split(".")[0] == "ssrl"}
    return found


def test_every_module_has_a_layer():
    parts = {_part(".".join(p.relative_to(SRC.parent).with_suffix("").parts)) for p in MODULES}
    assert parts - set(LAYER) == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path):
    me = _part(".".join(path.relative_to(SRC.parent).with_suffix("").parts))
    upward = sorted(m for m in _imports(path) if LAYER[m] > LAYER[me])
    assert upward == [], f"{path.relative_to(SRC)} ({me}, layer {LAYER[me]}) imports from higher layers: {upward}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400
