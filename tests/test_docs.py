"""The docs a newcomer reads are the reference, and they stay true.

- Nothing in the repository cites a document that is not in it (the private contract the
  project was first built from): the reference is docs/reference.md.
- Every relative markdown link, and every anchor into docs/ that a file cites, lands on an
  existing file and heading.
- Every ``nbml.module.name`` and ``nbml/...py`` path named in code, tests and docs exists, and
  every repository path a markdown file names in backticks exists.
- docs/reference.md lists every training option, setting and sweep/finder option the code has.
- docs/architecture.md names the imports between the training and store layers that exist.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"

# The private contract's name, built from pieces so that this file neither matches itself nor
# shows up in a grep for it.
_NAME = "SP" + "EC"
_PRIVATE = re.compile(_NAME + r"\s*\u00a7|" + _NAME + r"\.md|\u00a7\s*\d")


def repo_files() -> list[Path]:
    """The files git tracks, and new ones it does not ignore (they are about to be tracked)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [ROOT / p for p in sorted(set(out.splitlines())) if (ROOT / p).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary


def texts(*suffixes: str) -> dict[Path, str]:
    out = {}
    for p in repo_files():
        if suffixes and p.suffix not in suffixes:
            continue
        t = text_of(p)
        if t is not None:
            out[p] = t
    return out


# ------------------------------------------------------------------ no private citations


def private_citations(files: dict[Path, str]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)}:{t.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for p, t in files.items()
        for m in _PRIVATE.finditer(t)
    ]


def test_no_file_cites_a_document_outside_the_repository():
    assert private_citations(texts()) == []


def test_the_citation_check_catches_each_form():
    cited = {
        ROOT / "a.py": '"""Loading is cheap (' + _NAME + ' \u00a71)."""',
        ROOT / "b.md": "the budgets of \u00a710",
        ROOT / "c.ts": "// see ../shared/" + _NAME + ".md",
        ROOT / "d.md": f"see docs/reference.md, Budgets; a {_NAME}IFIC case; --data {_NAME}",
    }
    assert [c.split(":")[0] for c in private_citations(cited)] == ["a.py", "b.md", "c.ts"]


# ------------------------------------------------------------------ links and anchors

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_CITED_ANCHOR = re.compile(r"\b(docs/[\w.-]+\.md)#([\w-]+)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*\*|<[^>]+>", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@functools.cache
def anchors(md: Path) -> frozenset[str]:
    """The anchors of a markdown file: its headings' slugs (numbered when repeated)."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"#{1,6}\s+(.*)", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return frozenset(out)


def broken_links(md: Path, text: str) -> list[str]:
    bad = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(f"{md.name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{md.name}: {target} (no such heading)")
    return bad


def test_every_relative_link_in_the_docs_resolves():
    mds = {p: t for p, t in texts(".md").items()}
    assert ROOT / "README.md" in mds and REFERENCE in mds
    bad = [b for p, t in mds.items() for b in broken_links(p, t)]
    assert bad == []


def test_every_cited_docs_anchor_exists():
    cited, bad = 0, []
    for p, t in texts().items():
        for doc, anchor in _CITED_ANCHOR.findall(t):
            cited += 1
            target = ROOT / doc
            if not target.is_file() or anchor not in anchors(target):
                bad.append(f"{p.relative_to(ROOT)}: {doc}#{anchor}")
    assert cited > 50, "code, tests and benchmarks cite the reference's sections by anchor"
    assert bad == []


def test_the_link_check_finds_a_missing_file_and_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Data and tasks\n\n## Budgets (measured)\n")
    md = tmp_path / "b.md"
    text = "[ok](a.md#data-and-tasks) [ok](a.md#budgets-measured) [x](a.md#nope) [y](c.md)"
    md.write_text(text)
    assert broken_links(md, text) == [
        "b.md: a.md#nope (no such heading)",
        "b.md: c.md (no such file)",
    ]


# ------------------------------------------------------------------ module paths

_DOTTED = re.compile(r"(?<![\w/.@-])nbml(?:\.[A-Za-z_]\w*)+")
#: ``nbml.json`` and the like are file names, not modules.
_FILE_TYPES = {"json", "py", "md", "ts", "js", "css", "keras", "db", "log", "sqlite", "txt"}
_FILE = re.compile(r"(?<![\w/.-])nbml/[\w/]+\.py\b")
_DOC_PATH = re.compile(
    r"`((?:nbml|tests|labextension|benchmarks|docs|scripts)/[\w./-]+?)(?:::\w+)?`"
)


def module_file(parts: list[str]) -> tuple[Path | None, list[str]]:
    """The file of the longest module prefix of ``parts`` and the names after it."""
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        for f in (base.with_suffix(".py"), base / "__init__.py"):
            if f.is_file():
                return f, parts[i:]
    return None, parts


def _bound(body: list[ast.stmt]) -> set[str]:
    """Names a module or class body binds (defs, classes, assignments, imports)."""
    out: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            out |= _bound(getattr(node, "body", []) + getattr(node, "orelse", []))
    return out


@functools.cache
def module_names(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    """Top-level names of a module (a lazy ``_LAZY`` facade's too) and each class's names
    (its body's, and the ``self.x`` it assigns)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = _bound(tree.body)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("_LAZY", "__all__") for t in node.targets
        ):
            names |= {
                c.value for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            }  # fmt: skip
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            attrs = _bound(node.body)
            attrs |= {
                t.attr for t in ast.walk(node)
                if isinstance(t, ast.Attribute) and isinstance(t.ctx, ast.Store)
            }  # fmt: skip
            classes[node.name] = attrs
    return names, classes


def dotted_exists(dotted: str) -> bool:
    path, rest = module_file(dotted.split("."))
    if path is None:
        return False
    if not rest or rest[0].startswith("__"):
        return True
    names, classes = module_names(path)
    if rest[0] not in names:
        return False
    if len(rest) > 1 and rest[0] in classes:
        return rest[1] in classes[rest[0]]
    return True


def test_the_path_check_knows_a_real_name_from_a_stale_one():
    assert dotted_exists("nbml.core.options.TrainOptions")
    assert dotted_exists("nbml.training.callbacks.TrainingPublisher.tick")
    assert dotted_exists("nbml.LiveMonitor") and dotted_exists("nbml.store.StoredRun")
    assert not dotted_exists("nbml.options.TrainOptions")  # the module moved to nbml.core
    assert not dotted_exists("nbml.core.options.TrainOption")
    assert not dotted_exists("nbml.training.callbacks.TrainingPublisher.tock")


def test_every_nbml_module_path_named_in_code_and_docs_exists():
    bad = []
    for p, t in texts(".py", ".md", ".ts", ".tsx").items():
        if p == Path(__file__).resolve():  # its own examples of stale paths
            continue
        where = p.relative_to(ROOT)
        dotted = {d for d in _DOTTED.findall(t) if d.rsplit(".", 1)[1] not in _FILE_TYPES}
        bad += [f"{where}: {d}" for d in sorted(dotted) if not dotted_exists(d)]
        bad += [f"{where}: {f}" for f in sorted(set(_FILE.findall(t))) if not (ROOT / f).is_file()]
    assert bad == []


def test_every_repository_path_the_docs_name_exists():
    bad = []
    for p, t in texts(".md").items():
        for path in _DOC_PATH.findall(t):
            if not (ROOT / path.rstrip("/")).exists() and not _ignored(path):
                bad.append(f"{p.relative_to(ROOT)}: {path}")
    assert bad == []


def _ignored(path: str) -> bool:
    """Whether git ignores ``path``: output a command writes (``benchmarks/results/``), named in
    the docs as where it goes, exists only once that command has run."""
    import subprocess

    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    return done.returncode == 0


# ------------------------------------------------------------------ the reference


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of that level."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"docs/reference.md has no section '## {heading}'"
    return m.group(1)


def test_the_reference_lists_every_training_option(reference):
    from nbml.core import options

    table = section(reference, "Training options")
    missing = [
        options.flag(f.name) for f in options.fields() if f"`{options.flag(f.name)}" not in table
    ]
    assert missing == []


def test_the_reference_lists_every_setting_and_finder_and_sweep_option(reference):
    from nbml.magics import NbmlMagics
    from nbml.magics.sweep import OWN

    settings = section(reference, "Loading and settings")
    traits = NbmlMagics.class_own_traits(config=True)
    assert traits and [t for t in traits if f"`{t}`" not in settings] == []
    finder = section(reference, "The learning-rate finder")
    assert [o for o in ("--start", "--end", "--steps") if f"`{o}" not in finder] == []
    sweeps = section(reference, "Sweeps")
    assert [o for o in OWN if f"`--{o}" not in sweeps] == []


# ------------------------------------------------------------------ the architecture


def cross_imports(src: str, dst: str) -> set[tuple[str, str]]:
    """(file, module) for each import of ``nbml.<dst>`` in ``nbml/<src>/`` (lazy ones too)."""
    out = set()
    for f in sorted((ROOT / "nbml" / src).glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                full = base if node.level == 0 else "nbml." + base if node.level == 2 else ""
                mods = [f"{full}.{a.name}" if full == f"nbml.{dst}" else full for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for m in mods:
                if m == f"nbml.{dst}" or m.startswith(f"nbml.{dst}."):
                    out.add((f.relative_to(ROOT).as_posix(), m))
    return out


def test_the_architecture_names_the_imports_between_training_and_store():
    doc = (DOCS / "architecture.md").read_text(encoding="utf-8")
    assert "never import each other" not in doc
    found = cross_imports("training", "store") | cross_imports("store", "training")
    assert found, "no import between training and store: say so in docs/architecture.md"
    unnamed = [(f, m) for f, m in found if f"`{f}`" not in doc or f"`{m}`" not in doc]
    assert unnamed == []
