"""The one-way arrows of the layout (../shared/STYLE.md, "Layout"): serve_app (builder, ingress, routers) →
graphs → deployments → serve_app.common, the leaf; test and benchmark support (testkit) beside production,
never inside it; and the Ingress replica, with the models hosted in it, never imports training code."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from serve_app.common.settings import REPO_ROOT

COMMON, ARTIFACTS = "serve_app.common", "serve_app.artifacts"
# Each module belongs to the first unit it falls in, so serve_app.common is not "the rest of serve_app".
UNITS = (COMMON, ARTIFACTS, "serve_app", "graphs", "deployments", "testkit", "benchmarks", "tests")
PRODUCTION = {"serve_app", "graphs", "deployments", COMMON}
# What each unit may import of the project; anything else is an arrow pointing the wrong way.
ALLOWED = {
    COMMON: {COMMON},
    "deployments": {"deployments", COMMON},
    "graphs": {"graphs", "deployments", COMMON},
    "serve_app": PRODUCTION,  # serving code never imports training code (serve_app.artifacts)
    ARTIFACTS: {ARTIFACTS, COMMON},  # builds models from scratch: it needs no deployment or router
    "testkit": PRODUCTION | {"testkit", ARTIFACTS},
    "benchmarks": PRODUCTION | {"benchmarks", "testkit", ARTIFACTS},
    "tests": PRODUCTION | {"tests", "testkit", ARTIFACTS},
}
# Training code and what only training needs: a replica that imports it pays for it at start-up.
TRAINING = (ARTIFACTS, "torch", "transformers", "tokenizers", "tqdm")


def _within(module: str, packages) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def unit(module: str) -> str | None:
    return next((name for name in UNITS if _within(module, (name,))), None)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source(module: str, root: Path) -> Path | None:
    """The file that defines `module` in this tree; None for a library (or a namespace package)."""
    base = root.joinpath(*module.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def imports(path: Path, root: Path) -> list[str]:
    """Every module `path` imports, at any depth (deferred imports inside functions count too), relative
    imports made absolute, and `from package import submodule` named down to the submodule."""
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in package a.b.c is `from a.b.x import y`
                base = ".".join(filter(None, (package.rsplit(".", node.level - 1)[0], node.module)))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                is_module = source(full, root) or root.joinpath(*full.split(".")).is_dir()
                names.append(full if is_module else base)
    return list(dict.fromkeys(names))


def _files(root: Path, *top: str) -> list[Path]:
    return sorted(path for name in top for path in (root / name).rglob("*.py"))


def wrong_arrows(root: Path = REPO_ROOT, of: str | None = None) -> list[str]:
    """`file -> module` for each import of the project that its unit (or only unit `of`) may not make."""
    found = []
    for path in _files(root, *{name.split(".")[0] for name in UNITS}):
        mine = unit(module_name(path, root))
        if of in (None, mine):
            found += [f"{path.relative_to(root)} -> {module}" for module in imports(path, root)
                      if unit(module) and unit(module) not in ALLOWED[mine]]
    return found


def training_imports(root: Path = REPO_ROOT) -> list[str]:
    """Model replicas and the leaf they share with the Ingress import no training code, even unused."""
    return [f"{path.relative_to(root)} -> {module}" for path in _files(root, "deployments", "serve_app/common")
            for module in imports(path, root) if _within(module, TRAINING)]


def named_modules(path: Path) -> list[str]:
    """Modules a string names by import path (`"deployments.backends.onnx_runtime:OnnxRuntimeBackend"`), as
    the backend registry does: importlib loads them, no import statement does."""
    return [node.value.partition(":")[0] for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and re.fullmatch(r"[\w.]+:\w+", str(node.value))]


def ingress_closure(root: Path = REPO_ROOT) -> set[str]:
    """Every project module the Ingress replica may load: the builder and the models serve_config.yaml places on
    the Ingress, what they import or name by import path, and the packages above each (a.b runs a/__init__.py)."""
    todo = []
    for app in yaml.safe_load((root / "serve_config.yaml").read_text())["applications"]:
        hosted = [model for model in app.get("args", {}).get("models", {}).values()
                  if model.get("placement") == "ingress"]
        todo += [entry["import_path"].partition(":")[0] for entry in (app, *hosted)]
    seen = set()
    while todo:
        parts = todo.pop().split(".")
        for name in (".".join(parts[:end]) for end in range(1, len(parts) + 1)):
            if name not in seen and (path := source(name, root)):
                seen.add(name)
                todo += [found for found in imports(path, root) + named_modules(path) if unit(found)]
    return seen


def ingress_training_imports(root: Path = REPO_ROOT) -> list[str]:
    closure = sorted(source(module, root) for module in ingress_closure(root))
    return [f"{path.relative_to(root)} -> {module}" for path in closure
            for module in imports(path, root) if _within(module, TRAINING)]


@pytest.mark.parametrize("of", UNITS)  # one case per unit: a failure names the layer
def test_imports_point_one_way(of):
    assert wrong_arrows(of=of) == []


def test_model_replicas_never_import_training_code():
    assert training_imports() == []


def test_the_ingress_replica_never_imports_training_code():
    # Not vacuous: the closure reaches the ingress, a hosted model and the backend its registry names.
    assert {"serve_app.ingress", "deployments.ranker", "deployments.backends.onnx_runtime"} <= ingress_closure()
    assert ingress_training_imports() == []


SERVE_CONFIG = """applications: [{import_path: "serve_app.app:build_app", args: {models: {
    Ranker: {import_path: "deployments.ranker:Ranker", placement: ingress},
    LLM: {import_path: "deployments.llm:LLM"}}}}]"""


def arrow(path: str, statement: str, module: str, **more_files: str) -> tuple:
    return wrong_arrows, {path: statement, **more_files}, f"{path} -> {module}"


# One planted wrong arrow per unit (and per kind of import), each the only thing its check may report.
PLANTED = {
    "common": arrow("serve_app/common/x.py", "import graphs.spec", "graphs.spec"),
    "deployments": arrow("deployments/x.py", "def f():\n    from serve_app.ingress import app", "serve_app.ingress"),
    "graphs": arrow("graphs/x.py", "from serve_app.http.sse import stream", "serve_app.http.sse"),
    "serve_app.http": arrow("serve_app/http/x.py", "from testkit.polling import eventually", "testkit.polling"),
    "serve_app module": arrow("serve_app/readiness.py", "from serve_app import artifacts", "serve_app.artifacts",
                              **{"serve_app/artifacts/__init__.py": ""}),
    "artifacts": arrow("serve_app/artifacts/x.py", "import deployments.ranker", "deployments.ranker"),
    "testkit": arrow("testkit/x.py", "from tests.unit.fakes import FakeHandle", "tests.unit.fakes"),
    "benchmarks": arrow("benchmarks/x.py", "import tests.conftest", "tests.conftest"),
    "tests": arrow("tests/x.py", "from benchmarks.faults import BUDGETS", "benchmarks.faults"),
    # A relative import is an import: `..ingress` from serve_app/common is serve_app.ingress.
    "relative": arrow("serve_app/common/x.py", "from ..ingress import app", "serve_app.ingress"),
    "replica training": (training_imports, {"deployments/x.py": "import torch"}, "deployments/x.py -> torch"),
    # Training code two hops from the builder, behind a deferred import: allowed arrows, still on the Ingress.
    "ingress closure": (ingress_training_imports, {
        "serve_config.yaml": SERVE_CONFIG, "serve_app/app.py": "import serve_app.ingress",
        "serve_app/ingress.py": "def f():\n    from .v2 import router",
        "serve_app/v2/router.py": "from tqdm import tqdm",
    }, "serve_app/v2/router.py -> tqdm"),
    # A hosted model and the backend its registry names are on the Ingress; a model of its own (LLM) is not.
    "hosted model": (ingress_training_imports, {
        "serve_config.yaml": SERVE_CONFIG, "serve_app/app.py": "",
        "deployments/ranker.py": "import deployments.backends",
        "deployments/backends/__init__.py": "REGISTRY = {'hf': 'deployments.backends.scorer:Scorer'}",
        "deployments/backends/scorer.py": "import transformers", "deployments/llm.py": "import torch",
    }, "deployments/backends/scorer.py -> transformers"),
}


@pytest.mark.parametrize("case", PLANTED)
def test_the_check_sees_a_wrong_arrow(tmp_path, case):
    check, files, expected = PLANTED[case]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert check(tmp_path) == [expected]
