"""The documentation cannot rot: every code block of README.md and docs/ runs, and the site builds strictly.

Every fenced block labelled ``python``, ``bash`` or ``sh`` in README.md and docs/**/*.md is run, in order
(README.md first, then docs/ in path order), in one temporary folder that stands for the reader's
checkout: ``gin_configs``, ``notebooks``, ``perf`` and ``tools`` are linked there from the repository,
``results`` is copied (so that no block can change the published results), the package is imported from
this checkout (``PYTHONPATH``), ``python`` is this interpreter, and TFDS builds into the folder
(``TFDS_DATA_DIR``), never into ``~/tensorflow_datasets``. A bash block runs as a script under
``bash -e``; a Python block runs as a fresh ``__main__`` module, forked from a process that has already
imported TensorFlow (what each block imports, it imports itself). A block that has already run with the
same text is not run again: its outputs are there. Blocks labelled ``text`` (or another format that is
not code: json, gin, yaml, toml, bibtex, csv, html, or no label) show output and are not run; any other
label fails, so that no code slips through unlabelled.

A block that cannot run as written in a test says so, visibly, in an HTML comment right before it:

    <!-- docs-test: skip reason="pip install: what .ci/run itself runs" -->
    <!-- docs-test: replace "--preset=paper" "--preset=paper --dry_run" reason="54 runs of 6 hours" -->

``replace`` takes one or more OLD NEW pairs (each OLD must occur in the block) and runs the block with
them substituted; both need a ``reason``. A directive that is not right before a block, an unknown
directive, or a directive without a reason fails the test. Skips are few and capped (MAX_SKIPS).
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RUN = {"python", "bash", "sh"}
SHOWN = {"", "text", "json", "gin", "yaml", "toml", "bibtex", "csv", "html"}
LINKED = ("gin_configs", "notebooks", "perf", "tools")  # read by the blocks, never written
COPIED = ("results",)
MAX_SKIPS = 10
BLOCK_TIMEOUT_S = 600
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"<!--\s*docs-test:(?P<body>.*?)-->", re.S)


@dataclasses.dataclass
class Block:
    path: pathlib.Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    action: str = "run"  # run, skip, replace
    reason: str = ""
    replacements: tuple = ()

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def runnable_text(self) -> str:
        text = self.text
        for old, new in self.replacements:
            text = text.replace(old, new)
        return text


def pages() -> list[pathlib.Path]:
    """README.md, then the site's pages in the order of mkdocs.yml's nav (a reader's order), then any other."""
    import yaml

    def walk(entry):
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, list):
            for item in entry:
                yield from walk(item)
        elif isinstance(entry, dict):
            for value in entry.values():
                yield from walk(value)

    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    ordered = [REPO / "docs" / name for name in walk(nav) if name.endswith(".md")]
    rest = sorted(set((REPO / "docs").rglob("*.md")) - set(ordered))
    return [README, *[page for page in ordered if page.exists()], *rest]


def parse_directive(body: str, where: str) -> tuple[str, str, tuple]:
    """``skip reason="..."`` or ``replace "OLD" "NEW" ... reason="..."``: (action, reason, pairs)."""
    try:
        words = shlex.split(body)
    except ValueError as error:
        raise ValueError(f"{where}: cannot parse the docs-test directive ({error})") from None
    if not words or words[0] not in ("skip", "replace"):
        raise ValueError(f"{where}: a docs-test directive is `skip reason=...` or `replace OLD NEW reason=...`")
    reasons = [w[len("reason="):] for w in words[1:] if w.startswith("reason=")]
    rest = [w for w in words[1:] if not w.startswith("reason=")]
    if len(reasons) != 1 or not reasons[0].strip():
        raise ValueError(f"{where}: a docs-test {words[0]} must state one non-empty reason=\"...\"")
    if words[0] == "skip":
        if rest:
            raise ValueError(f"{where}: `skip` takes only a reason, got {rest}")
        return "skip", reasons[0], ()
    if not rest or len(rest) % 2:
        raise ValueError(f"{where}: `replace` takes OLD NEW pairs, got {rest}")
    return "replace", reasons[0], tuple(zip(rest[::2], rest[1::2]))


def extract(path: pathlib.Path) -> list[Block]:
    """The fenced blocks of one Markdown file with their directives; ValueError for anything malformed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, pending, i = [], None, 0
    rel = path.relative_to(REPO)
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("<!-- docs-test:"):
            end = i
            while "-->" not in lines[end]:
                end += 1
            match = DIRECTIVE.search("\n".join(lines[i:end + 1]))
            if match:
                if pending is not None:
                    raise ValueError(f"{rel}:{pending[0]}: a docs-test directive is not followed by a code block")
                pending = (i + 1, *parse_directive(match["body"], f"{rel}:{i + 1}"))
            i = end + 1
            continue
        match = FENCE.match(line)
        if match:
            fence, indent = match["fence"], len(match["indent"])
            language = match["info"].strip().split()[0].lower() if match["info"].strip() else ""
            body, j = [], i + 1
            while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                          and lines[j].strip().strip(fence[0]) == ""):
                body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
                j += 1
            if j == len(lines):
                raise ValueError(f"{rel}:{i + 1}: a code block is never closed")
            block = Block(path, i + 1, language, "\n".join(body) + "\n")
            if language not in RUN | SHOWN:
                raise ValueError(f"{rel}:{i + 1}: a block labelled {language!r}: label code python, bash or sh "
                                 f"(it runs) and output text (it does not)")
            if pending is not None:
                if language not in RUN:
                    raise ValueError(f"{rel}:{pending[0]}: a docs-test directive before a {language or 'unlabelled'}"
                                     " block, which never runs")
                _, block.action, block.reason, block.replacements = pending
                for old, _new in block.replacements:
                    if old not in block.text:
                        raise ValueError(f"{rel}:{pending[0]}: replace {old!r}: not in the block")
                pending = None
            blocks.append(block)
            i = j + 1
            continue
        if pending is not None and line.strip():
            raise ValueError(f"{rel}:{pending[0]}: a docs-test directive is not right before a code block")
        i += 1
    if pending is not None:
        raise ValueError(f"{rel}:{pending[0]}: a docs-test directive is not followed by a code block")
    return blocks


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in extract(page)]


# ---- static checks: instant, so they run in the fast loop too


def test_every_block_runs_or_says_why_not():
    blocks = all_blocks()  # raises on any malformed directive, unknown label or unclosed block
    runnable = [b for b in blocks if b.language in RUN]
    skipped = [b for b in runnable if b.action == "skip"]
    assert len(runnable) > 20, "the docs' code blocks were not found"
    assert len(skipped) <= MAX_SKIPS, "too many skipped blocks:\n" + "\n".join(f"{b.where}: {b.reason}" for b in skipped)


def test_readme_test_command_is_what_ci_runs():
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("pip install")]
    assert len(ci) == 1
    readme_blocks = [b.text.strip() for b in extract(README) if b.language in RUN]
    assert ci[0] in readme_blocks, "README.md must show .ci/run's command, byte for byte, as a block of its own"


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"


def test_dataset_guide_lists_the_configs_as_the_readme_does():
    """The dataset tests check the README's configs table against the splits; the guide's must be the same."""
    def configs_table(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("| config | held out of training |"))
        end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
        return lines[start:end]

    assert configs_table(REPO / "docs" / "dataset.md") == configs_table(README)


# ---- running the blocks


WORKER = r'''
import json, os, signal, sys, traceback
import tensorflow, tensorflow_datasets, keras  # the slow imports, once; no op runs here, so forking is safe
print("ready", flush=True)
for request in sys.stdin:
    request = json.loads(request)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = [request["name"]]
        status = 0
        try:
            exec(compile(request["code"], request["name"], "exec"), {"__name__": "__main__", "__file__": request["name"]})
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    deadline = request["timeout"]
    import time
    start = time.monotonic()
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - start > deadline:
            os.killpg(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            code = "timeout"
            break
        time.sleep(0.05)
    print(json.dumps({"rc": code, "cpu": usage.ru_utime + usage.ru_stime}), flush=True)
'''


class PythonRunner:
    """Runs Python blocks as fresh ``__main__`` modules forked from one process that imported TensorFlow."""

    def __init__(self, cwd, env):
        self.cwd, self.env, self.process = cwd, env, None

    def _start(self):
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=self.cwd, env=self.env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout.readline().strip() == "ready", "the Python block runner did not start"

    def run(self, code: str, name: str, log: str) -> tuple[int | str, float]:
        """The block's exit status (or why there is none) and the CPU seconds it took."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        self.process.stdin.write(json.dumps({"code": code, "name": name, "cwd": str(self.cwd), "log": log,
                                             "timeout": BLOCK_TIMEOUT_S}) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            return "the runner died", 0.0
        answer = json.loads(answer)
        return answer["rc"], answer["cpu"]

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_bash(text: str, cwd, env, log: str) -> tuple[int | str, float]:
    """The block's exit status (or "timeout") and the CPU seconds it and its processes took."""
    before = _children_cpu()
    return _wait_bash(text, cwd, env, log), _children_cpu() - before


def _wait_bash(text: str, cwd, env, log: str) -> int | str:
    with open(log, "w") as out:
        process = subprocess.Popen(["bash", "-e", "-c", text], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the block's own process group: its server, its children
            process.wait()
            return "timeout"
        finally:
            try:  # a block's background job that outlived it
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def reader_checkout():
    """A temporary folder standing for the reader's checkout, and the environment the blocks run in."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="dmelodies_docs_"))
    try:
        work, bin_dir = root / "checkout", root / "bin"
        work.mkdir()
        bin_dir.mkdir()
        for name in LINKED:
            (work / name).symlink_to(REPO / name)
        for name in COPIED:
            shutil.copytree(REPO / name, work / name, ignore=shutil.ignore_patterns("checkpoints", ".lock", "*.lock"))
        (bin_dir / "python").symlink_to(sys.executable)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("TFDS_", "DMELODIES_"))}
        env.update(PATH=os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), env.get("PATH", "")]),
                   PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   TFDS_DATA_DIR=str(work / "tensorflow_datasets"), MPLBACKEND="Agg")
        yield work, env, root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
def test_every_code_block_runs(reader_checkout):
    work, env, root = reader_checkout
    runner = PythonRunner(work, env)
    done: dict[str, str] = {}  # a block's text -> where it first ran
    report, failures, cpu_total = [], [], 0.0
    start_all = time.monotonic()
    try:
        for number, block in enumerate(b for b in all_blocks() if b.language in RUN):
            if block.action == "skip":
                report.append(f"skip  {block.where}: {block.reason}")
                continue
            text = block.runnable_text()
            key = f"{block.language}\n{text}"
            if key in done:
                report.append(f"same  {block.where}: ran at {done[key]}")
                continue
            log = str(root / f"block{number:03d}.log")
            start = time.monotonic()
            if block.language == "python":
                rc, cpu = runner.run(text, f"<{block.where}>", log)
            else:
                rc, cpu = _run_bash(text, work, env, log)
            seconds, cpu_total = time.monotonic() - start, cpu_total + cpu
            report.append(f"{'ran ' if rc == 0 else 'FAIL'}  {block.where} ({seconds:.0f} s, {cpu:.0f} s CPU)"
                          + (f" with {block.reason}" if block.action == "replace" else ""))
            if rc == 0:
                done[key] = block.where
            else:
                output = pathlib.Path(log).read_text(errors="replace")
                failures.append(f"{block.where} ({block.language}, exit {rc}):\n"
                                + textwrap.indent(text, "    | ") + "\n" + textwrap.indent(output[-4000:], "    > "))
    finally:
        runner.close()
    print("\n".join(report) + f"\nall blocks: {time.monotonic() - start_all:.0f} s, {cpu_total:.0f} s CPU "
          "(and the Python runner's start-up)")
    assert not failures, "\n\n".join(failures)


@pytest.mark.integration
def test_the_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: every page, link and API reference page builds without a warning."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    site = tmp_path / "site"
    assert (site / "index.html").exists() and (site / "protocol" / "index.html").exists()
    reference = list((site / "reference").rglob("index.html"))
    assert any("dmelodies_tfds" in str(p) for p in reference) and any("benchmarks" in str(p) for p in reference)
