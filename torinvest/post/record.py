"""The posting record of a report folder (``posts.json``) and the ledger entries of posts.

``posts.json`` (written atomically — a temporary file renamed — after each step, so a post
stopped anywhere resumes where it stopped)::

    {"format": 1, "finding_id": "…",
     "posts": [{"destination": "jira:SEC-1", "site": "https://x.atlassian.net",
                "version": "<sha256>", "status": "complete|partial|failed", "forced": false,
                "started_at": "…Z", "finished_at": "…Z", "torinvest_version": "…",
                "files": [{"name": "report.html", "posted_as": "…", "bytes": 1, "sha256": "…"}],
                "content_sha256": "…",
                "steps": [{"step": "prepare|upload|note", "file": "report.html",
                           "sha256": "…", "remote": {…}, "at": "…Z"}],
                "error": null,
                "maybe_posted": {"step": "note"}, "maybe_posted_at": "…Z",
                "sending": {"step": "note"}, "sending_at": "…Z"}]}

``maybe_posted`` (only while it holds) names the step a post stopped on with "may have been
posted" (``{"step": "upload", "file": …, "sha256": …}``, ``{"step": "note"}``…): the post that
resumes looks for it first — the look-ups of the retries, by the marker or the posted name —
and records it as done when it is there, sending it only when it is not. ``maybe_posted_at`` and
``sending_at`` say when that attempt was sent: a look-up whose index lags (Jira Cloud's issue
search) does not take "not found" for "not there" until it has had the time to show it.

``sending`` names the step being sent: written (to the disk) before its request leaves and
removed once the step is recorded done or its failure is known (refused, or looked for and not
there). Still there, the post stopped between sending it and recording it (killed, the machine
asleep): the post that resumes looks for it first, as for ``maybe_posted``.

A post's **version** is the SHA-256 of what it sends (each file's name and SHA-256, and the
text of the comment or note): the same version to the same destination (and site) is posted
once; a changed report — or a changed verdict in the ledger, which changes the answer — is a
new version. A file already uploaded to that destination with the same SHA-256 (by an earlier
version, or by a post that stopped half-way) is not uploaded again, unless forced.

Ledger entries (``torinvest.verdict.append``), one per destination and post::

    {"kind": "post", "finding_id", "destination", "site", "version", "status",
     "files": [{"name", "posted_as", "sha256"}], "remote": {…}, "error", "forced",
     "report_dir", "at", "torinvest_version"}

Neither holds a secret: remote IDs, file names and hashes only, every string redacted.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.paths import held_lock, write_atomic
from torinvest.post.base import PostFile, PostRefusedError
from torinvest.safety import json_inert_bytes

log = logging.getLogger(__name__)

POSTS_FILE = "posts.json"
LOCK_FILE = ".posts.lock"
FORMAT = 1


def now_iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z")


def version_of(spec: str, files: Sequence[PostFile], content: str) -> str:
    """The version a post is recorded under (see the module docstring)."""
    doc = {
        "destination": spec,
        "files": sorted((f.name, f.sha256) for f in files),
        "content": content,
    }
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


class PostsFile:
    """``posts.json`` of one report folder, read and written under an exclusive lock (two posts
    of one report never interleave: the second waits for nothing and is refused)."""

    def __init__(self, folder: Path, finding_id: str) -> None:
        self.folder = folder
        self.path = folder / POSTS_FILE
        self.finding_id = finding_id
        self.doc: dict[str, Any] = {"format": FORMAT, "finding_id": finding_id, "posts": []}

    def load(self) -> None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as e:
            raise PostRefusedError(
                f"cannot read the posting record {self.path}: {e}",
                hint="it says what was posted where; restore it from a backup, or move it "
                "aside to post everything again (duplicates on the tickets)",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("posts"), list):
            raise PostRefusedError(
                f"{self.path} is not a torinvest posting record",
                hint="move it aside; a new one is written by the next post",
            )
        if data.get("finding_id") not in (None, self.finding_id):
            raise PostRefusedError(
                f"{self.path} records posts of finding {data.get('finding_id')}, not "
                f"{self.finding_id}",
                hint="the folder holds another finding's record: move it aside",
            )
        self.doc = data
        self.doc["finding_id"] = self.finding_id

    @property
    def posts(self) -> list[dict[str, Any]]:
        return self.doc["posts"]

    def history(self, spec: str, site: str) -> list[dict[str, Any]]:
        """Earlier posts to ``spec`` at ``site``, oldest first."""
        return [p for p in self.posts if p.get("destination") == spec and p.get("site") == site]

    def save(self) -> None:
        """Write atomically; an OSError becomes :class:`PostRefusedError` naming the file."""
        try:
            write_atomic(
                self.path,
                json_inert_bytes(orjson.dumps(self.doc, option=orjson.OPT_INDENT_2)) + b"\n",
            )
        except OSError as e:
            raise PostRefusedError(
                f"cannot write the posting record {self.path}: {e.strerror or e}",
                hint="what was posted is in the ledger; fix the folder's permissions or space, "
                "then post again (it resumes)",
            ) from None

    def check_writable(self) -> None:
        """Refuse before posting anything when the record could not be written (a read-only
        folder or file system, no permission): the lock file is created as a test."""
        lock = self.folder / LOCK_FILE
        try:
            os.close(os.open(lock, os.O_RDWR | os.O_CREAT, 0o600))
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise PermissionError(13, "Permission denied", str(self.path))
        except OSError as e:
            raise PostRefusedError(
                f"cannot record posts in {self.folder}: {e.strerror or e}: nothing posted",
                hint="posting records what it posted (posts.json) so that it never posts twice: "
                "copy the report folder somewhere writable, or fix its permissions",
            ) from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold ``.posts.lock`` in the folder for the whole post; refuse when another post of
        this report holds it."""
        lock = self.folder / LOCK_FILE
        with held_lock(
            lock,
            cannot=lambda e: PostRefusedError(
                f"cannot lock {lock}: {e.strerror or e}",
                hint="the report folder must be writable to post it",
            ),
            busy=lambda: PostRefusedError(
                f"another torinvest post of {self.folder} is running (it holds {lock})",
                hint="wait for it to finish; posting again then does only what is left",
            ),
        ):
            self.load()
            yield


def ledger_entry(post: Mapping[str, Any], *, finding_id: str, report_dir: Path) -> dict[str, Any]:
    """The ledger record of one post (see the module docstring)."""
    remote: dict[str, Any] = {}
    for step in post.get("steps") or []:
        if step.get("step") == "upload":
            remote.setdefault("files", []).append({"file": step.get("file"), **step["remote"]})
        elif step.get("remote"):
            remote[str(step.get("step"))] = step["remote"]
    return {
        "kind": "post",
        "finding_id": finding_id,
        "destination": post.get("destination"),
        "site": post.get("site"),
        "version": post.get("version"),
        "status": post.get("status"),
        "forced": bool(post.get("forced")),
        "files": [
            {k: f.get(k) for k in ("name", "posted_as", "sha256")} for f in post.get("files") or []
        ],
        "remote": remote,
        "error": post.get("error"),
        "report_dir": str(report_dir),
        "at": now_iso(),
        "torinvest_version": __version__,
    }


def latest_remote(history: Sequence[Mapping[str, Any]], step: str) -> dict[str, Any]:
    """The remote IDs of the latest ``step`` (e.g. ``prepare``) among earlier posts."""
    for post in reversed(history):
        for s in reversed(post.get("steps") or []):
            if s.get("step") == step and s.get("remote"):
                return dict(s["remote"])
    return {}
