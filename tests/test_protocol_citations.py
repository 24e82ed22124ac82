"""The project's specification is docs/protocol.md: every "protocol §N" in code and docs names one of its
sections, and nothing cites a specification the repository does not hold."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parent.parent
CITATION = re.compile(r"protocol §(\d+)(?:-(\d+))?((?:, §\d+)*)")
SOURCES = ("benchmarks", "dmelodies_tfds", "gin_configs", "tests", "tools", "perf", "notebooks", "docs", "results")


def _files():
    yield REPO / "README.md"
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".gin", ".ipynb", ".txt"} and path.is_file():
                yield path


def test_every_protocol_citation_names_a_section_of_docs_protocol():
    sections = {int(n) for n in re.findall(r"^## §(\d+) ", (REPO / "docs" / "protocol.md").read_text(), re.M)}
    assert sections == set(range(1, 10))
    cited = 0
    for path in _files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            numbers = set(range(first, last + 1)) | {int(n) for n in re.findall(r"\d+", match.group(3))}
            assert numbers <= sections, f"{path.relative_to(REPO)} cites {match.group(0)!r}"
            cited += 1
    assert cited > 100  # the code does cite it


def test_no_file_cites_a_specification_outside_the_repository():
    outside = "SPEC" + " §"  # spelled apart, so that this file does not cite it
    offenders = [str(path.relative_to(REPO)) for path in _files()
                 if outside in path.read_text(encoding="utf-8", errors="replace")]
    assert offenders == []
