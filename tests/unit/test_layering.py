"""The one-way arrow of the layout: serve_app (builder, ingress, routers) → graphs → deployments →
serve_app.common, the leaf package; and model replicas never import training code."""

import ast
from pathlib import Path

from serve_app.common.settings import REPO_ROOT

PROJECT = ("serve_app", "deployments", "graphs", "benchmarks", "tests")
LEAF = "serve_app.common"
# What each layer may import of the project; anything else is an arrow pointing the wrong way.
ALLOWED = {
    "serve_app/common": (LEAF,),
    "deployments": ("deployments", LEAF),
    "graphs": ("graphs", "deployments", LEAF),
}
# Training code and what only training needs: a replica that imports it pays for it at start-up.
TRAINING = ("serve_app.artifacts", "torch", "transformers", "tokenizers", "tqdm")


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at any depth (deferred imports inside functions count too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
    return names


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def wrong_arrows(root: Path = REPO_ROOT) -> list[str]:
    """`file -> module` for each import of the project that its layer may not make."""
    found = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*.py")):
            for module in imports(path):
                if _within(module, PROJECT) and not _within(module, allowed):
                    found.append(f"{path.relative_to(root)} -> {module}")
    return found


def training_imports(root: Path = REPO_ROOT) -> list[str]:
    return [f"{path.relative_to(root)} -> {module}"
            for layer in ("deployments", "serve_app/common") for path in sorted((root / layer).rglob("*.py"))
            for module in imports(path) if _within(module, TRAINING)]


def test_imports_point_one_way():
    assert wrong_arrows() == []


def test_model_replicas_never_import_training_code():
    assert training_imports() == []


def test_the_check_sees_a_wrong_arrow(tmp_path):
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "bad.py").write_text("def f():\n    from serve_app.ingress import app\n")
    (tmp_path / "deployments" / "slow.py").write_text("import torch\n")
    assert wrong_arrows(tmp_path) == ["deployments/bad.py -> serve_app.ingress"]
    assert training_imports(tmp_path) == ["deployments/slow.py -> torch"]
