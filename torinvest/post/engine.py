"""Posting a complete report folder to destinations, once each, recorded.

    check the folder (complete, writable)  →  destinations and their configuration  →  answer
        →  for each destination: version → already posted? → prepare → upload files → note
        →  posts.json after every step, the ledger after every destination

:func:`post_report` is that recipe. A destination that fails is one line
(:class:`~torinvest.post.base.PostError`) and does not stop the others; Security Hub is posted
last, so its note can say which tickets hold the report.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from torinvest import __version__
from torinvest.errors import InputError, InvalidFindingIdError
from torinvest.findings import check_finding_id
from torinvest.paths import held_lock
from torinvest.post.answer import build_answer
from torinvest.post.base import (
    Bundle,
    Context,
    Destination,
    DestinationSpec,
    PostConfigError,
    PostError,
    PostRefusedError,
    parse_destination,
    post_file,
)
from torinvest.post.env import Redactor, scrubbed_logs
from torinvest.post.http import DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, Http, MaybePostedError
from torinvest.post.record import PostsFile, ledger_entry, now_iso, version_of
from torinvest.report import EVENTS_CSV, MANIFEST, PER_IP_CSV, folder_state
from torinvest.report.folders import LOCK_FILE as REPORT_LOCK
from torinvest.verdict import append as ledger_append
from torinvest.verdict import default_ledger_path, read_ledger

log = logging.getLogger(__name__)

#: The files every post sends (when the destination takes files), and those of --with-csv.
POSTED_FILES: tuple[str, ...] = ("report.html", "summary.json")
CSV_FILES: tuple[str, ...] = (EVENTS_CSV, PER_IP_CSV)
#: Destinations posted after the others (their note names where the report went).
_LAST = ("securityhub",)
#: Destinations whose post is "where the report is" for a Security Hub note.
_TICKETS = ("jira", "jira-new", "servicenow", "security-ir")


@dataclass(slots=True)
class Outcome:
    """What posting to one destination did: ``status`` is ``posted``, ``already-posted`` (the
    same version was posted before: nothing done), ``partial`` (some steps done; posting again
    resumes) or ``failed`` (nothing done); ``line`` says it in one line."""

    destination: str
    status: str
    line: str
    version: str = ""
    remote: dict[str, Any] = field(default_factory=dict)
    error: PostError | None = None


@dataclass(slots=True)
class PostReport:
    """Every destination's :class:`Outcome`, in the order posted."""

    report_dir: Path
    finding_id: str
    outcomes: list[Outcome]
    ledger: Path
    ledger_error: str | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("failed", "partial")]

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("posted", "already-posted")]


def read_report(folder: Path) -> tuple[str, dict[str, Any]]:
    """The finding ID and ``summary.json`` of a *complete* report folder; raise
    :class:`PostRefusedError` (nothing posted) for an incomplete or unreadable one."""
    state = folder_state(folder)
    if not state.complete:
        raise PostRefusedError(
            f"{folder} is not a complete report ({state.why}): nothing posted",
            hint="post a folder a `torinvest investigate` run finished (its manifest.json lists "
            "every file); run the investigation again for this one",
        )
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())
        summary = orjson.loads((folder / "summary.json").read_bytes())
        finding_id = check_finding_id(str(manifest["finding_id"]))
        if str(summary["finding"]["id"]) != finding_id:
            raise PostRefusedError(
                f"{folder}: summary.json is of finding {summary['finding']['id']}, the manifest "
                f"of {finding_id}: nothing posted",
                hint="run the investigation again into this folder",
            )
    except InvalidFindingIdError as e:
        raise PostRefusedError(
            f"{folder}: the manifest names {e.message}: nothing posted",
            hint="post only folders `torinvest investigate` wrote",
        ) from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise PostRefusedError(
            f"{folder}: cannot read the report ({type(e).__name__}: {e}): nothing posted",
            hint="run the investigation again into this folder",
        ) from None
    return finding_id, summary


def make_destinations(
    specs: Sequence[DestinationSpec],
    ctx: Context,
    *,
    unconfigured: list[tuple[DestinationSpec, PostConfigError]] | None = None,
) -> list[Destination]:
    """A destination object per spec; every configuration problem at once, as one
    :class:`PostConfigError` (before anything is posted). With ``unconfigured`` (a list), the
    destinations that can be made are returned and each one that cannot is added to it with
    its problem instead: the caller posts the others and says which were not posted."""
    from torinvest.post.base import make_destination

    made: list[Destination] = []
    problems: list[tuple[DestinationSpec, PostConfigError]] = []
    for spec in specs:
        try:
            made.append(make_destination(spec, ctx))
        except PostConfigError as e:
            problems.append((spec, e))
    if problems and unconfigured is not None:
        unconfigured.extend(problems)
        return made
    if problems:
        problems_only = [e for _, e in problems]
        for d in made:
            d.close()
        if len(problems_only) == 1:
            raise problems_only[0]
        raise PostConfigError(
            "; ".join(p.message for p in problems_only) + ": nothing posted",
            hint=problems_only[0].hint,
        )
    return made


def _check_ledger(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as e:
        raise InputError(
            f"cannot write the ledger {path}: {e.strerror or e}: nothing posted",
            hint="every post is recorded in the ledger: pass a writable --ledger FILE (or set "
            "TORINVEST_LEDGER)",
        ) from None


def post_report(
    report_dir: str | Path,
    destinations: Sequence[str | DestinationSpec],
    *,
    force: bool = False,
    with_csv: bool = False,
    env: Mapping[str, str] | None = None,
    ledger: str | Path | None = None,
    aws_factory: Callable[[], Any] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] | None = None,
    skip_unconfigured: bool = False,
) -> PostReport:
    """Post the complete report in ``report_dir`` to each destination (module docstring).

    ``env``: the variables to read configuration and secrets from (default: the process
    environment; see :func:`torinvest.post.env.environment` for ``--env-file``). ``force``:
    post again what was posted. ``with_csv``: also events.csv and per_ip.csv.
    ``skip_unconfigured`` (scheduled runs, ``--post-each``): a destination whose configuration
    is missing or wrong (an unset variable of the env file) is a ``failed`` outcome naming what
    is missing, and the others are posted — else that refuses the whole post. ``aws_factory``
    builds the :class:`~torinvest.aws.Aws` of the AWS destinations (default ``Aws()``: boto3's
    chain). Raises :class:`PostRefusedError` / :class:`PostConfigError` / InputError before
    posting anything (incomplete report, unwritable record or ledger, missing variables);
    otherwise returns every destination's outcome — one failing never stops the others.

    The report folder's lock (the one an investigation holds for its whole run) is held for
    the whole post: no run can change the report between the check that it is complete and the
    last file sent (another run holding it: :class:`PostRefusedError`, nothing posted). A
    caller that holds it already (``investigate --post``: its run's lock) keeps it.
    """
    folder = Path(report_dir).expanduser().resolve()
    if not folder.is_dir():
        read_report(folder)  # the refusal that names what is wrong (no folder)
    with report_held(folder):
        return _post_held(
            folder,
            destinations,
            force=force,
            with_csv=with_csv,
            env=env,
            ledger=ledger,
            aws_factory=aws_factory,
            attempts=attempts,
            backoff=backoff,
            sleep=sleep,
            echo=echo,
            skip_unconfigured=skip_unconfigured,
        )


@contextmanager
def report_held(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s run lock (:data:`torinvest.report.folders.LOCK_FILE`) for the block;
    :class:`PostRefusedError` when another run holds it or it cannot be taken."""
    lock = folder / REPORT_LOCK
    with held_lock(
        lock,
        cannot=lambda e: PostRefusedError(
            f"cannot record posts in {folder}: cannot lock {lock}: {e.strerror or e}: nothing "
            "posted",
            hint="posting records what it posted (posts.json) so that it never posts twice: "
            "copy the report folder somewhere writable, or fix its permissions",
        ),
        busy=lambda: PostRefusedError(
            f"another torinvest run is writing the report folder {folder} (it holds {lock}): "
            "nothing posted",
            hint="wait for it to finish, then post: a report is posted as one finished run left it",
        ),
    ):
        yield


def _post_held(
    folder: Path,
    destinations: Sequence[str | DestinationSpec],
    *,
    force: bool,
    with_csv: bool,
    env: Mapping[str, str] | None,
    ledger: str | Path | None,
    aws_factory: Callable[[], Any] | None,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
    echo: Callable[[str], None] | None,
    skip_unconfigured: bool = False,
) -> PostReport:
    """:func:`post_report` once the report folder's lock is held."""
    finding_id, summary = read_report(folder)
    specs = list(
        dict.fromkeys(
            d if isinstance(d, DestinationSpec) else parse_destination(d) for d in destinations
        )
    )
    if not specs:
        raise InputError("no destination to post to", hint="give --to DEST (one or more)")
    variables = dict(os.environ if env is None else env)
    redactor = Redactor(variables)
    if aws_factory is None:
        from torinvest.aws import Aws

        aws_factory = Aws
    ctx = Context(
        env=variables,
        redactor=redactor,
        aws_factory=aws_factory,
        attempts=attempts,
        backoff=backoff,
        sleep=sleep,
    )
    ledger_path = Path(ledger).expanduser() if ledger else default_ledger_path()
    posts = PostsFile(folder, finding_id)
    posts.check_writable()
    _check_ledger(ledger_path)
    records, issues = read_ledger(ledger_path)
    for issue in issues:
        log.warning("%s: %s", issue.source, issue.problem)
    names = POSTED_FILES + (CSV_FILES if with_csv else ())
    try:
        files = [post_file(folder, n, finding_id) for n in names]
    except OSError as e:
        raise PostRefusedError(
            f"{folder}: cannot read {Path(str(e.filename)).name}: {e.strerror}: nothing posted",
            hint="check the folder's permissions",
        ) from None
    bundle = Bundle(
        folder=folder,
        finding_id=finding_id,
        summary=summary,
        files=files,
        answer=build_answer(summary, records),
    )
    unconfigured: list[tuple[DestinationSpec, PostConfigError]] = []
    dests = make_destinations(specs, ctx, unconfigured=unconfigured if skip_unconfigured else None)
    dests.sort(key=lambda d: d.spec.split(":", 1)[0] in _LAST)  # stable: others first
    report = PostReport(folder, finding_id, [], ledger_path)
    for spec, problem in unconfigured:  # nothing sent there; the others are posted
        report.outcomes.append(
            Outcome(spec.text, "failed", f"{problem.message}: not posted ({problem.hint})")
        )
    current = ""
    try:
        with posts.locked(), scrubbed_logs(redactor):
            for dest in dests:
                current = dest.spec
                if echo:
                    echo(f"posting to {dest.spec} …")
                bundle.posted_elsewhere = _posted_elsewhere(posts)
                outcome, entry = _post_one(dest, bundle, posts, force=force, redactor=redactor)
                report.outcomes.append(outcome)
                if entry is not None:
                    record = redactor.value(
                        ledger_entry(entry, finding_id=finding_id, report_dir=folder)
                    )
                    try:
                        ledger_append(ledger_path, record)  # type: ignore[arg-type]
                    except InputError as e:
                        report.ledger_error = str(e)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: what was posted is said before the stop is
        if echo:
            _say_interrupted(report, current, posts, echo)
        raise
    finally:
        for d in dests:
            d.close()
    return report


def _say_interrupted(
    report: PostReport, current: str, posts: PostsFile, echo: Callable[[str], None]
) -> None:
    """After Ctrl-C: each destination done (its line, as the finished command prints it), then
    the one stopped and how to finish it — without this, the lines of the posts made were never
    said, and a stopped post read as nothing posted."""
    for outcome in report.outcomes:
        echo(outcome.line)
    if current and current not in {o.destination for o in report.outcomes}:
        echo(
            f"stopped while posting to {current}: {posts.path} records the steps done; "
            "post again to finish it (nothing done is posted twice)"
        )


def _posted_elsewhere(posts: PostsFile) -> list[str]:
    """Ticket destinations this report was posted to completely (a jira-new post as the issue
    it made), newest last, each once."""
    out: dict[str, None] = {}
    for p in posts.posts:
        kind = str(p.get("destination", "")).split(":", 1)[0]
        if p.get("status") != "complete" or kind not in _TICKETS:
            continue
        name = str(p["destination"])
        if kind == "jira-new":
            issue = next(
                (
                    s["remote"].get("issue")
                    for s in p.get("steps") or []
                    if s.get("step") == "prepare"
                ),
                None,
            )
            name = f"jira:{issue}" if issue else name
        out.pop(name, None)
        out[name] = None
    return list(out)


def where_is(bundle: Bundle) -> str:
    """Where the report is, for a note: the tickets it was posted to, else this host's folder."""
    if bundle.posted_elsewhere:
        return ", ".join(bundle.posted_elsewhere)
    return f"{socket.gethostname()}:{bundle.folder}"


def _token(version: str, what: str, nonce: str) -> str:
    """A stable idempotency token per (version, step): a retried or resumed step repeats it."""
    return hashlib.sha256(f"{version}:{what}:{nonce}".encode()).hexdigest()


def _post_one(
    dest: Destination,
    bundle: Bundle,
    posts: PostsFile,
    *,
    force: bool,
    redactor: Redactor,
) -> tuple[Outcome, dict[str, Any] | None]:
    """Post to one destination; the posting record is saved after each step."""
    try:
        content = dest.content(bundle)
    except PostError as e:
        return Outcome(dest.spec, "failed", e.message, error=e), None
    files = list(bundle.files) if dest.takes_files else []
    version = version_of(dest.spec, files, content)
    history = posts.history(dest.spec, dest.site)
    recall = getattr(dest, "recall", None)
    if callable(recall):  # what earlier posts made there: what its look-ups must see
        recall(history)
    if not force:
        done = [p for p in history if p.get("version") == version and p.get("status") == "complete"]
        if done:
            when = done[-1].get("finished_at") or "?"
            return (
                Outcome(
                    dest.spec,
                    "already-posted",
                    f"already posted to {dest.spec} at {when}: nothing to do (--force posts it "
                    "again)",
                    version=version,
                    remote=_remote(done[-1]),
                ),
                None,
            )
    resumable = [
        p
        for p in history
        if p.get("version") == version and p.get("status") in ("partial", "failed")
    ]
    entry = resumable[-1] if (resumable and not force) else None
    if entry is None:
        entry = {
            "destination": dest.spec,
            "site": dest.site,
            "version": version,
            "status": "partial",
            "forced": force,
            "nonce": uuid.uuid4().hex if force else "",
            "started_at": now_iso(),
            "finished_at": None,
            "torinvest_version": __version__,
            "files": [f.to_record() for f in files],
            "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
            "steps": [],
            "error": None,
        }
        posts.posts.append(entry)
    entry["error"] = None
    posts.save()
    nonce = str(entry.get("nonce") or "")
    steps: list[dict[str, Any]] = entry["steps"]
    # files already at this destination with the same content (any earlier post, unless forced)
    earlier: dict[tuple[str, str], dict[str, Any]] = {}
    for p in ([] if force else history) + [entry]:
        for s in p.get("steps") or []:
            if s.get("step") == "upload" and s.get("remote"):
                earlier[(s.get("file"), s.get("sha256"))] = s
    first_new = len(steps)
    # the step an earlier post left unsure — "may have been posted", or recorded "sending" and
    # never recorded done (the process killed, the machine asleep): looked for before it is sent
    maybe = _unsure(entry)
    doing: dict[str, Any] = {"step": "prepare"}
    try:
        memory = {}
        for p in [
            *history,
            entry,
        ]:  # the latest prepare wins (a jira-new issue is kept with --force)
            for s in p.get("steps") or []:
                if s.get("step") == "prepare" and s.get("remote"):
                    memory = dict(s["remote"])
        with _sending(posts, entry, dest, maybe, doing):
            prepared = dest.prepare(bundle, memory)
        if prepared and prepared != memory:
            _step(posts, steps, "prepare", prepared, redactor, entry=entry)
        else:
            _settled(posts, entry)  # nothing made (the ticket was only read, or known)
        posted: list[dict[str, Any]] = []
        for f in files:
            before = earlier.get((f.name, f.sha256))
            if before is not None:
                posted.append({**f.to_record(), "remote": before["remote"], "earlier": True})
                continue
            doing = {"step": "upload", "file": f.name, "sha256": f.sha256}
            with _sending(posts, entry, dest, maybe, doing):
                remote = dest.upload(bundle, f, _token(version, f"upload:{f.sha256}", nonce))
            _step(posts, steps, "upload", remote, redactor, file=f, entry=entry)
            posted.append({**f.to_record(), "remote": remote, "earlier": False})
        if not any(s.get("step") == "note" for s in steps):
            doing = {"step": "note"}
            with _sending(posts, entry, dest, maybe, doing):
                remote = dest.note(bundle, posted, _token(version, "note", nonce))
            _step(posts, steps, "note", remote, redactor, entry=entry)
    except PostError as e:
        if isinstance(e, MaybePostedError):  # the next post looks for it before sending it
            entry["maybe_posted"] = doing
            # when the attempt that may be there was sent (a look-up whose index lags needs it)
            entry[UNSURE_AT] = _iso(e.sent_at) if e.sent_at else entry.get(SENDING_AT)
        # any other failure says what happened to the request (refused, or looked for and not
        # there): nothing of it is left "sending"
        entry.pop(SENDING, None)
        entry.pop(SENDING_AT, None)
        made = [s for s in steps if s.get("step") != "prepare" or s["remote"].get("created")]
        entry["status"] = "partial" if made else "failed"
        entry["error"] = redactor(str(e))
        entry["finished_at"] = now_iso()
        posts.save()
        said = e.message + (
            f" [stopped after {len(made)} step(s); posting again resumes]" if made else ""
        )
        return Outcome(
            dest.spec, entry["status"], redactor(str(said)), version, _remote(entry), e
        ), entry
    entry["status"] = "complete"
    entry["finished_at"] = now_iso()
    posts.save()
    new = [s for s in steps[first_new:] if s.get("step") == "upload"]
    line = f"posted to {dest.spec}: " + _describe(new, len(files), entry)
    return Outcome(dest.spec, "posted", redactor(line), version, _remote(entry)), entry


#: The key of posts.json naming the step being sent: recorded (durably) before its request,
#: removed once the step is recorded done or its failure is known. Left there, the post was
#: stopped between sending the step and recording it (killed, the machine asleep): the next
#: post looks for it before sending it again.
SENDING = "sending"
#: When the step named by ``sending`` started to be sent, and when the attempt ``maybe_posted``
#: names was sent (ISO 8601 UTC): a destination whose look-up lags (Jira Cloud's search) does
#: not read "not found" as "not there" until it has had the time to show it.
SENDING_AT = "sending_at"
UNSURE_AT = "maybe_posted_at"
_WHY = {
    "maybe_posted": "an earlier post stopped on it: it may have been posted",
    SENDING: "an earlier post was stopped while sending it (before it could record the "
    "answer): it may have been posted",
}


def _unsure(entry: Mapping[str, Any]) -> tuple[dict[str, Any], str, float | None] | None:
    """The step an earlier post left unsure (``maybe_posted``, else ``sending``), why, and when
    its attempt was sent (epoch seconds; None: not recorded), or None."""
    for key, at in (("maybe_posted", UNSURE_AT), (SENDING, SENDING_AT)):
        step = entry.get(key)
        if isinstance(step, dict):
            return dict(step), _WHY[key], _epoch(entry.get(at))
    return None


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _epoch(value: Any) -> float | None:
    """An ISO 8601 time of posts.json as epoch seconds; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@contextmanager
def _sending(
    posts: PostsFile,
    entry: dict[str, Any],
    dest: Destination,
    maybe: tuple[dict[str, Any], str, float | None] | None,
    doing: Mapping[str, Any],
) -> Iterator[None]:
    """The block that sends the step ``doing``: it is recorded in posts.json as ``sending``
    (written to the disk) before anything is sent, and, when an earlier post left that very step
    unsure (``maybe``: :func:`_unsure`), ``dest`` looks for the earlier attempt before sending
    it (:meth:`torinvest.post.http.Http.looking_first`: the Jira comment list, the ServiceNow
    journal, the attachments — the look-ups its retries use). A destination whose requests are
    not :class:`~torinvest.post.http.Http`'s makes none that may be done twice: it just sends."""
    entry[SENDING] = dict(doing)
    entry[SENDING_AT] = now_iso()
    posts.save()
    http = getattr(dest, "http", None)
    if maybe is None or maybe[0] != dict(doing) or not isinstance(http, Http):
        looking: Any = nullcontext()
    else:
        looking = http.looking_first(maybe[1], maybe[2])
    with looking:
        yield


def _settled(posts: PostsFile, entry: dict[str, Any]) -> None:
    """A step that made nothing is no longer "sending"."""
    entry.pop(SENDING_AT, None)
    if entry.pop(SENDING, None) is not None:
        posts.save()


def _step(
    posts: PostsFile,
    steps: list[dict[str, Any]],
    name: str,
    remote: Mapping[str, Any],
    redactor: Redactor,
    *,
    file: Any = None,
    entry: dict[str, Any] | None = None,
) -> None:
    step: dict[str, Any] = {"step": name, "remote": redactor.value(dict(remote)), "at": now_iso()}
    if file is not None:
        step["file"] = file.name
        step["sha256"] = file.sha256
        step["posted_as"] = file.posted_as
    steps.append(step)
    if entry is not None:  # a step done (or found done): nothing of it is "may have been"
        for key in ("maybe_posted", UNSURE_AT, SENDING, SENDING_AT):
            entry.pop(key, None)
    posts.save()


def _remote(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in entry.get("steps") or []:
        if s.get("step") == "upload":
            out.setdefault("files", {})[s.get("posted_as") or s.get("file")] = s.get("remote")
        else:
            out[str(s.get("step"))] = s.get("remote")
    return out


def _describe(new: list[dict[str, Any]], total: int, entry: Mapping[str, Any]) -> str:
    """This post in words: the files it attached (and those already there), the remote IDs."""
    parts = []
    if total:
        names = ", ".join(str(s.get("posted_as")) for s in new)
        same = total - len(new)
        parts.append(
            (f"{len(new)} file(s) attached ({names})" if new else "no file attached")
            + (f", {same} unchanged file(s) already there" if same else "")
        )
    ids: dict[str, Any] = {}
    for s in entry.get("steps") or []:
        if s.get("step") in ("prepare", "note") and s.get("remote"):
            ids.update(s["remote"])
    shown = ", ".join(f"{k} {v}" for k, v in ids.items() if v not in (None, "", True, False))
    return "; ".join([*parts, shown] if shown else parts) or "done"
