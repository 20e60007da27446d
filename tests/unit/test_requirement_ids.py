"""Every requirement id a comment cites (`S1 §5`, `[S2]`, `S3 REQ-PERF-01`) resolves in docs/requirements.md."""

import re

from serve_app.common.settings import REPO_ROOT

CITED_IN = ["serve_app", "deployments", "graphs", "testkit", "k8s", "serve_config.yaml", "Makefile"]
CITATION = re.compile(r"\b(S[0-3])(?: ?§ ?(\d+(?:\.\d+)?)| (REQ-[A-Z]+-\d+))?")


def citations() -> set[str]:
    found = set()
    for root in CITED_IN:
        path = REPO_ROOT / root
        for source in [path] if path.is_file() else path.rglob("*"):
            if source.suffix in (".py", ".yaml", ".yml", "") and source.is_file():
                for match in CITATION.finditer(source.read_text(errors="replace")):
                    found.add(" ".join(part for part in (match[1], match[2] and f"§{match[2]}", match[3]) if part))
    return found


def defined(page: str) -> set[str]:
    """The ids the page defines: its headings' leading ids (`### S1 §5 Limits`) and its bold items (`**S3 REQ-API-01`)."""
    ids = {match[1] for match in re.finditer(r"^#+ (S[0-3](?: §\d+(?:\.\d+)?)?)(?= )", page, re.MULTILINE)}
    return ids | {match[1] for match in re.finditer(r"\*\*(S[0-3] REQ-[A-Z]+-\d+)", page)}


def test_every_cited_requirement_is_in_the_requirements_page():
    cited = citations()
    assert {"S0", "S1 §5"} <= cited, "the citation pattern no longer finds known citations"
    assert sorted(cited - defined((REPO_ROOT / "docs" / "requirements.md").read_text())) == []
