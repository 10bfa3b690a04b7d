"""Imports only go down: the package's layers, written once, and the test that holds them.

:data:`LAYERS` orders torinvest's modules from the bottom up. A module may import modules of
its own layer or of a lower one, never of a higher one, and no chain of imports may lead back to
where it started. Every import counts — at the top of a module, inside a function, under
``TYPE_CHECKING`` — read from the source with :mod:`ast` (nothing is imported). A name given to
``importlib.import_module`` is not an import: that is how a table of engines names modules that
import it (``torinvest.sources.sql.engine.ENGINE_CLASSES``).

A new module goes into the table (the test fails until it has a layer): in the lowest layer
above everything it imports. A package's name stands for its ``__init__`` and for those of its
modules the table does not name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torinvest

PACKAGE = "torinvest"
ROOT = Path(torinvest.__file__).parent

#: torinvest's layers, lowest first (names without the ``torinvest.`` prefix).
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundations: import nothing of torinvest (the package itself holds __version__)
    (
        "torinvest",
        "imports",
        "errors",
        "safety",
        "inflate",
        "stopping",
        "children",
        "addresses",
        "jsonread",
        "progress",
        "paged",
        "sniff",
    ),
    # frame contracts and small shared helpers
    ("schema", "paths", "targets", "grouping", "outcome", "shown"),
    # AWS: botocore's data loaders, answers checked, regions, errors translated, then
    # sessions and clients
    ("aws.loader",),
    ("aws.answers", "aws.regions", "aws.ids", "aws.pages", "aws.reach"),
    ("aws.translate",),
    ("aws.session",),
    # AWS clients, case folders, output files, reference data (catalogue, GeoIP)
    ("aws", "case", "export", "catalogue", "geo", "attack_tools"),
    # CloudTrail sources: records → the events frame (the pieces' columns, records → a piece,
    # minted keys, a log file's bytes → a piece, documents → records, pieces → the frame) ...
    ("sources", "sources.empty", "sources.records.columns", "sources.records.jsontext"),
    ("sources.records.table", "sources.records.derived", "sources.records.passwords"),
    ("sources.records.logfile", "sources.records.loggroup", "sources.records.origin"),
    ("sources.records.documents",),
    ("sources.records.frame",),
    ("sources.records",),
    # ... then the readers: log files (what passes around, listing, the key prefilter, one
    # file, a worker task, the worker pool, load_logs) and LookupEvents (the pacer, a query's
    # pages, the page cache, the regions pulled)
    ("sources.logs.model", "sources.logs.archive", "sources.lookup.pacer"),
    ("sources.logs.coverage", "sources.logs.signatures", "sources.logs.versions"),
    ("sources.logs.digests", "sources.logs.writes"),
    ("sources.logs.listing", "sources.logs.prefilter", "sources.lookup.fetch"),
    ("sources.logs.read", "sources.lookup.cache"),
    ("sources.logs.batch", "sources.lookup.pull"),
    ("sources.logs.pool",),
    ("sources.logs.load",),
    ("sources.logs", "sources.lookup"),
    # the investigation's options and their defaults (engine, window, run)
    ("options",),
    # SQL: the record as queries read it, the queries, the engine protocol and the counts as
    # frames, the engines, the entry points, the package's face (and the old Athena path,
    # re-exported)
    ("sources.sql.projection",),
    ("sources.sql.queries",),
    ("sources.sql.engine", "sources.sql.frames"),
    ("sources.sql.ddl",),
    ("sources.sql.columns",),
    ("sources.sql.duckdb", "sources.sql.athena", "sources.sql.archived"),
    ("sources.sql.run",),
    ("sources.sql", "sources.athena"),
    # the other inputs
    ("findings", "tor", "verdict"),
    ("findings.related",),
    # every source at once; who else called from the key's addresses (over the same sources)
    ("events", "pivot"),
    # which trails record data events (CloudTrail's selectors), then what the activity read
    # says of data events (LookupEvents never returns them)
    ("data_trails",),
    ("data_events",),
    # IAM's record of the key's last use, against the activity read
    ("last_used", "impairment.model"),
    ("impairment.selectors", "impairment.bucket"),
    ("impairment.trails", "impairment.services"),
    ("impairment",),
    # console passwords the key set and their sign-ins (over the activity read)
    ("passwords",),
    ("reading",),
    # where an investigation reads from, and the notebooks' parameters
    ("parameters",),
    # the torinvest command lines printed as next steps (the access the run was given)
    ("commands",),
    # what the activity means
    ("analysis.helpers",),
    ("analysis.baseline", "analysis.places"),
    ("analysis.agents",),
    ("analysis.per_ip", "analysis.sensitive"),
    ("analysis.signals",),
    ("analysis.score", "analysis.summary"),
    ("analysis",),
    # figures; plans (Action and Plan; the archive, one write's undo steps; what the activity
    # created; the evidence's steps, the console sessions of passwords the key set; the
    # remediation plan); carrying plans out (the verdict
    # gate, one call, the probes; the Runner that records each call; a record confirmed with
    # CloudTrail; the account guards and the checks before a change, the console-session deny
    # kept in force; the run)
    ("charts", "actions.plan"),
    ("actions.archive", "actions.undo"),
    ("actions.created",),
    ("actions.evidence", "actions.console", "actions.samename", "actions.ondelete"),
    ("actions.remediate",),
    ("actions",),
    ("runner.gate", "runner.calls", "runner.probes"),
    ("runner.recorder",),
    ("runner.confirm",),
    ("runner.guards", "runner.checks", "runner.keep"),
    ("runner.run",),
    ("runner",),
    # the investigation, what shows it, the runs and reports, the command
    ("investigation",),
    # related findings and the IP pivot of an investigation (torinvest.campaign.look_around)
    ("campaign",),
    ("notebooks",),
    ("display",),
    ("report",),
    # posting reports and scheduled runs
    ("post",),
    ("cli",),
    # python -m torinvest: the command
    ("__main__",),
)

#: Imports that break the layering, each on purpose, with why (none today; the list only
#: shrinks: a new one is a design decision, written here).
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported} ({self.where})"


def short(module: str) -> str:
    """``torinvest.sources.sql`` → ``sources.sql``; the package itself stays ``torinvest``."""
    return module.removeprefix(PACKAGE + ".") if module != PACKAGE else PACKAGE


def shown(path: Path) -> Path:
    """A path as the repository names it (``torinvest/…``) when it is in the package."""
    return path.relative_to(ROOT.parent) if path.is_relative_to(ROOT) else path


def package_modules() -> dict[str, Path]:
    """Every module of the package (short name → file)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts) or PACKAGE] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """The torinvest modules ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importer's package
                anchor = [PACKAGE, *package.split(".")] if package not in ("", PACKAGE) else []
                anchor = anchor[: len(anchor) - node.level + 1] if anchor else [PACKAGE]
                base = ".".join([*anchor, base] if base else anchor)
            # `from torinvest.x import y`: y is a module, or a name of torinvest.x (a name that
            # is also a module's, as analysis.per_ip, counts as that module: it is defined there)
            targets = [
                f"{base}.{alias.name}" if short(f"{base}.{alias.name}") in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):  # once per statement
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                yield Import(name, short(target), f"{shown(path)}:{node.lineno}")


def layer_of(name: str, layers: dict[str, int]) -> int | None:
    """The layer of a module: its own entry, else the nearest package that has one."""
    probe = name
    while probe:
        if probe in layers:
            return layers[probe]
        probe = probe.rpartition(".")[0]
    return layers.get(PACKAGE) if name == PACKAGE else None


def all_imports() -> list[Import]:
    modules = package_modules()
    return [i for name, path in modules.items() for i in imports_of(name, path, modules)]


def layer_index() -> dict[str, int]:
    return {name: n for n, layer in enumerate(LAYERS) for name in layer}


def test_the_layer_table_names_each_module_once_and_only_modules() -> None:
    named = [name for layer in LAYERS for name in layer]
    assert len(named) == len(set(named)), "a module is in two layers"
    assert sorted(set(named) - set(package_modules())) == [], "not a module of the package"


def test_every_module_has_a_layer() -> None:
    layers = layer_index()
    unplaced = [name for name in package_modules() if layer_of(name, layers) is None]
    assert unplaced == [], f"add {unplaced} to LAYERS in {Path(__file__).name}"


def test_imports_only_go_down() -> None:
    layers = layer_index()
    upward = [
        str(i)
        for i in all_imports()
        if (i.importer, i.imported) not in KNOWN_UPWARD
        and (layer_of(i.imported, layers) or 0) > (layer_of(i.importer, layers) or 0)
    ]
    assert upward == [], "imports that go up a layer:\n" + "\n".join(upward)


def test_the_known_upward_imports_still_exist() -> None:
    """When one is removed, take it out of KNOWN_UPWARD so that it cannot come back."""
    edges = {(i.importer, i.imported) for i in all_imports()}
    assert sorted(KNOWN_UPWARD - edges) == []


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for i in all_imports():
        if (i.importer, i.imported) not in KNOWN_UPWARD and i.importer != i.imported:
            graph.setdefault(i.importer, set()).add(i.imported)
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of a directed graph (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    nodes = set(graph) | {n for targets in graph.values() for n in targets}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    """The checks themselves: an import inside a function is found and placed above a source,
    and a cycle is one component."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from torinvest import charts\n", encoding="utf-8")
    found = list(imports_of("sources.records", probe, package_modules()))
    assert [(i.imported, i.where.rsplit(":")[-1]) for i in found] == [("charts", "2")]
    layers = layer_index()
    assert layer_of("charts", layers) > layer_of("sources.records", layers)  # type: ignore[operator]
    cycle = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(sorted(c) for c in cycle if len(c) > 1) == [["a", "b", "c"]]
    assert all(len(c) == 1 for c in strongly_connected({"a": {"b"}, "b": {"c"}}))
