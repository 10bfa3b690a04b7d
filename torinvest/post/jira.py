"""Jira: ``jira:KEY-123`` (attach the report to an issue, comment the answer) and
``jira-new:PROJECT`` (one issue per finding, remembered, updated by later posts).

Configuration (environment or env file):

* ``JIRA_URL`` — the site, ``https://your-site.atlassian.net`` or the Data Center base URL;
* Jira Cloud: ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` (HTTP basic), REST API 3 — comments and
  descriptions in Atlassian Document Format, the answer as a code block;
* Jira Data Center: ``JIRA_PAT`` (a personal access token, ``Authorization: Bearer``), REST API 2
  — comments in wiki markup, the answer inside ``{noformat}`` (nothing in it is markup);
* ``JIRA_ISSUE_TYPE`` — the type of ``jira-new`` issues (default ``Task``).

Calls: ``GET /rest/api/{3|2}/issue/{key}`` (the issue is there before anything is attached),
``POST …/issue/{key}/attachments`` (multipart field ``file``, header
``X-Atlassian-Token: no-check``), ``POST …/issue/{key}/comment``; for ``jira-new``: a JQL search
for the finding's label (``torinvest-finding-<id>``: an issue made by a run whose record was lost
is found, not made twice), ``POST …/issue`` (create), ``PUT …/issue/{key}`` (the description:
the current answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from torinvest.post.base import (
    Bundle,
    Context,
    DestinationSpec,
    PostConfigError,
    PostError,
    PostFile,
    remote_id,
    require,
)
from torinvest.post.http import Http, Landed, check_url
from torinvest.safety import term_safe

DEFAULT_ISSUE_TYPE = "Task"
#: Jira's limit on a summary (one line).
SUMMARY_MAX = 255
_NOFORMAT = re.compile(r"\{(noformat)", re.I)


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = self._header
        yield request


def finding_label(finding_id: str) -> str:
    """The label a ``jira-new`` issue carries: how a later run finds it."""
    return f"torinvest-finding-{finding_id}"


def post_marker(token: str) -> str:
    """The line a comment or work note ends with: unique to the post's version and step (its
    idempotency token), how a retry finds out that an attempt answered with a 5xx (or not at
    all) was made after all."""
    return f"torinvest-post: {token[:20]}"


def with_marker(text: str, token: str) -> str:
    return f"{text}\n\n{post_marker(token)}"


def _texts(node: Any) -> Iterator[str]:
    """Every string in a comment body (wiki markup, or an ADF document's text nodes)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


def comment_text(bundle: Bundle, files: list[PostFile]) -> str:
    """The answer and the files it comes with (the text of a comment or description)."""
    names = "\n".join(f"  - {f.posted_as} (SHA-256 {f.sha256})" for f in files)
    return bundle.answer.text + (f"\n\nFiles:\n{names}" if names else "")


class JiraIssue:
    """``jira:KEY-123``: the report's files attached, the answer as a comment."""

    takes_files = True

    def __init__(self, spec: DestinationSpec, ctx: Context) -> None:
        self.spec = spec.text
        self.ctx = ctx
        self.key = spec.args[0] if spec.kind == "jira" else ""
        env = ctx.env
        (url,) = require(env, self.spec, "JIRA_URL")
        self.site = check_url(url, "JIRA_URL", self.spec)
        pat = str(env.get("JIRA_PAT") or "").strip()
        token = str(env.get("JIRA_API_TOKEN") or "").strip()
        if pat and token:
            raise PostConfigError(
                f"{self.spec}: both JIRA_PAT and JIRA_API_TOKEN are set",
                hint="set JIRA_PAT for Jira Data Center, or JIRA_EMAIL and JIRA_API_TOKEN for "
                "Jira Cloud, not both",
            )
        auth: httpx.Auth
        if pat:
            self.api, self.cloud = "2", False
            auth = _Bearer(pat)
            who = "JIRA_PAT"
        else:
            if not (token or env.get("JIRA_EMAIL")):
                raise PostConfigError(
                    f"{self.spec}: no Jira credentials: set JIRA_EMAIL and JIRA_API_TOKEN (Jira "
                    "Cloud) or JIRA_PAT (Jira Data Center)",
                    hint="in the environment or in the file given with --env-file (never on the "
                    "command line)",
                )
            email, token = require(env, self.spec, "JIRA_EMAIL", "JIRA_API_TOKEN")
            self.api, self.cloud = "3", True
            auth = httpx.BasicAuth(email, token)
            who = "JIRA_EMAIL and JIRA_API_TOKEN"
        self.http = Http(
            self.spec,
            redactor=ctx.redactor,
            base_url=self.site,
            auth=auth,
            headers={"Accept": "application/json"},
            attempts=ctx.attempts,
            backoff=ctx.backoff,
            sleep=ctx.sleep,
            site_variable="JIRA_URL",
            hints={
                401: f"Jira refused {who}: check them (an API token of that account, not its "
                "password; a PAT that has not expired)",
                403: "the account needs Browse Projects, Create Attachments and Add Comments "
                "(Create Issues for jira-new) in the issue's project",
                404: "check the issue key, and that the account can see the issue",
                413: "the file is over the site's attachment size limit (Jira administration → "
                "Attachments); post without --with-csv, or raise the limit",
            },
        )

    @property
    def base(self) -> str:
        return f"/rest/api/{self.api}"

    def close(self) -> None:
        self.http.close()

    # -- what is sent
    def body(self, text: str) -> Any:
        """A comment or description body: an ADF code block (Cloud), wiki ``{noformat}`` (Data
        Center). Either way the text is never read as markup."""
        if self.cloud:
            return {
                "type": "doc",
                "version": 1,
                "content": [{"type": "codeBlock", "content": [{"type": "text", "text": text}]}],
            }
        return "{noformat}\n" + _NOFORMAT.sub(r"{ \1", text) + "\n{noformat}"

    def content(self, bundle: Bundle) -> str:
        return comment_text(bundle, bundle.files)

    # -- steps
    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        return {"issue": self._check_issue(self.key)}

    def _check_issue(self, key: str) -> str:
        response = self.http.request(
            "GET",
            f"{self.base}/issue/{key}",
            params={"fields": "summary"},
            what=f"look up issue {key}",
            ok=(200,),
        )
        doc = self.http.json(response, f"look up issue {key}", "key")
        hint = "check that JIRA_URL is the Jira site's address (a proxy may be answering)"
        return remote_id(self.spec, doc["key"], f"look up issue {key}", "issue key", hint)

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        return self._attach(self.key, file)

    def _attach(self, key: str, file: PostFile) -> dict[str, Any]:
        what = f"attach {file.name} to {key}"
        data = _read(self.spec, file)
        response = self.http.make(
            "POST",
            f"{self.base}/issue/{key}/attachments",
            what=what,
            check=f"the attachments of {key} for {file.posted_as}",
            landed=lambda: self._find_attachment(key, file.posted_as),
            ok=(200,),
            size=file.size,
            headers={"X-Atlassian-Token": "no-check"},
            files={"file": (file.posted_as, data, file.media_type)},
        )
        if isinstance(response, Landed):
            return response.found
        doc = self.http.json(response, what)
        if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
            raise PostError(
                self.spec,
                f"{what}: the answer lists no attachment",
                hint="check on the issue whether the file arrived; post again to retry",
            )
        hint = "check on the issue whether the file arrived; post again to retry"
        attachment = remote_id(self.spec, doc[0].get("id"), what, "attachment ID", hint)
        return {"attachment_id": attachment, "filename": term_safe(doc[0].get("filename"))}

    def _find_attachment(self, key: str, name: str) -> dict[str, Any] | None:
        """The attachment of ``key`` named ``name`` (posted names hold the file's SHA-256:
        only this post's file has it), or None."""
        what = f"list the attachments of {key}"
        response = self.http.request(
            "GET",
            f"{self.base}/issue/{key}",
            params={"fields": "attachment"},
            what=what,
            ok=(200,),
        )
        doc = self.http.json(response, what, "fields")
        attachments = doc["fields"].get("attachment") if isinstance(doc["fields"], dict) else None
        if not isinstance(attachments, list):
            raise PostError(self.spec, f"{what}: the answer has no list of attachments")
        for a in attachments:
            if isinstance(a, dict) and a.get("filename") == name:
                found = remote_id(self.spec, a.get("id"), what, "attachment ID")
                return {"attachment_id": found, "filename": term_safe(name)}
        return None

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        return self._comment(self.key, self.content(bundle), token)

    def _comment(self, key: str, text: str, token: str) -> dict[str, Any]:
        what = f"comment on {key}"
        marker = post_marker(token)
        response = self.http.make(
            "POST",
            f"{self.base}/issue/{key}/comment",
            what=what,
            check=f"the comments of {key} for one ending '{marker}'",
            landed=lambda: self._find_comment(key, marker),
            ok=(200, 201),
            json={"body": self.body(with_marker(text, token))},
        )
        if isinstance(response, Landed):
            return response.found
        doc = self.http.json(response, what, "id")
        return {"issue": key, "comment_id": remote_id(self.spec, doc["id"], what, "comment ID")}

    #: Comments read when looking for one just made (the newest first).
    RECENT_COMMENTS = 100

    def _find_comment(self, key: str, marker: str) -> dict[str, Any] | None:
        """The comment of ``key`` that holds ``marker`` (among the newest
        :attr:`RECENT_COMMENTS`), or None."""
        what = f"list the comments of {key}"
        response = self.http.request(
            "GET",
            f"{self.base}/issue/{key}/comment",
            params={"orderBy": "-created", "maxResults": str(self.RECENT_COMMENTS)},
            what=what,
            ok=(200,),
        )
        doc = self.http.json(response, what, "comments")
        if not isinstance(doc["comments"], list):
            raise PostError(self.spec, f"{what}: the answer's comments are not a list")
        for c in doc["comments"]:
            if isinstance(c, dict) and any(marker in t for t in _texts(c.get("body"))):
                found = remote_id(self.spec, c.get("id"), what, "comment ID")
                return {"issue": key, "comment_id": found}
        return None


class JiraNewIssue(JiraIssue):
    """``jira-new:PROJECT``: one issue per finding, found again by later posts (the posting
    record, else its label), its description kept to the current answer; a later version also
    adds a comment (watchers are told) and its changed files."""

    def __init__(self, spec: DestinationSpec, ctx: Context) -> None:
        super().__init__(spec, ctx)
        self.project = spec.args[0]
        self.created = False
        self.issue_type = str(ctx.env.get("JIRA_ISSUE_TYPE") or DEFAULT_ISSUE_TYPE).strip()

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        known = str(memory.get("issue") or "")
        if known:
            try:
                self.key = self._check_issue(known)
            except PostError as e:
                if "HTTP 404" not in e.problem:
                    raise
                raise PostError(
                    self.spec,
                    f"the issue {known} made for finding {bundle.finding_id} is gone (deleted, "
                    "moved, or no longer visible to this account)",
                    hint="move posts.json aside (or delete its jira-new entries) to make a new "
                    "issue",
                ) from None
            return {"issue": self.key}
        found = self._search(bundle.finding_id)
        if found:
            self.key = found
            return {"issue": found, "found_by": "label"}
        self.key = self._create(bundle)
        self.created = True
        return {"issue": self.key, "created": True}

    def _search(self, finding_id: str) -> str | None:
        jql = (
            f'project = "{self.project}" AND labels = "{finding_label(finding_id)}" '
            "ORDER BY created ASC"
        )
        what = f"search {self.project} for the finding's issue"
        path = f"{self.base}/search/jql" if self.cloud else f"{self.base}/search"
        response = self.http.request(
            "GET",
            path,
            params={"jql": jql, "fields": "key", "maxResults": "1"},
            what=what,
            ok=(200,),
        )
        doc = self.http.json(response, what, "issues")
        issues = doc["issues"]
        if not isinstance(issues, list) or (issues and not isinstance(issues[0], dict)):
            # not "no issue": an answer that cannot be read would make a second issue
            raise PostError(
                self.spec,
                f"{what}: the answer's issues are not a list of issues "
                f"({type(issues).__name__}): no issue made",
                hint="check that JIRA_URL is the Jira site's address (a proxy may be "
                "answering); post again to retry",
            )
        if not issues:
            return None
        return remote_id(self.spec, issues[0].get("key"), what, "issue key")

    def _create(self, bundle: Bundle) -> str:
        key = bundle.summary.get("key") or {}
        who = key.get("user_name") or key.get("access_key_id") or "unknown key"
        summary = " ".join(
            term_safe(
                f"Tor finding {bundle.finding_id}: {who} ({key.get('access_key_id')})"
            ).split()
        )[:SUMMARY_MAX]
        what = f"create an issue in {self.project}"
        label = finding_label(bundle.finding_id)
        response = self.http.make(
            "POST",
            f"{self.base}/issue",
            what=what,
            check=f"{self.project} for an issue labelled {label}",
            landed=lambda: self._made(bundle.finding_id),
            ok=(200, 201),
            json={
                "fields": {
                    "project": {"key": self.project},
                    "issuetype": {"name": self.issue_type},
                    "summary": summary,
                    "description": self.body(bundle.answer.text),
                    "labels": ["torinvest", finding_label(bundle.finding_id)],
                }
            },
        )
        if isinstance(response, Landed):
            return str(response.found["issue"])
        doc = self.http.json(response, what, "key")
        return remote_id(self.spec, doc["key"], what, "issue key")

    #: Seconds Jira Cloud's search may take to show an issue just made: its ``search/jql`` is
    #: eventually consistent ("from a few seconds to minutes", Atlassian's "search and
    #: reconcile"); Data Center's search shows it at once.
    SEARCH_LAG = 600.0

    def _made(self, finding_id: str) -> dict[str, Any] | None:
        """The issue an earlier create (that may have been done) made, found by its label, or
        None when it is not there. On Jira Cloud, a search that finds nothing within
        :attr:`SEARCH_LAG` of that create says nothing (the issue may not be searchable yet):
        a :class:`PostError`, so the create is not sent again (a second issue) but said "may
        have been posted", and a later post looks again."""
        found = self._search(finding_id)
        if found or not self.cloud:
            return _found(found)
        sent = self.http.sent_at
        age = time.time() - sent if sent is not None else None
        if age is None or age >= self.SEARCH_LAG:
            return None
        after = datetime.fromtimestamp((sent or 0) + self.SEARCH_LAG, UTC).strftime("%H:%M UTC")
        raise PostError(
            self.spec,
            f"the label search does not show it yet, {max(age, 0):.0f} s after it was sent "
            "(Jira Cloud's search can take minutes to show a new issue); post again after "
            f"{after}: it looks again",
        )

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        return self._attach(self.key, file)

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        what = f"update the description of {self.key}"
        self.http.request(
            "PUT",
            f"{self.base}/issue/{self.key}",
            what=what,
            ok=(200, 204),
            json={"fields": {"description": self.body(self.content(bundle))}},
        )
        out: dict[str, Any] = {"issue": self.key, "description": "updated"}
        new = [f for f in files if not f.get("earlier")]
        if not self.created:
            a = bundle.answer
            lines = [
                "torinvest: the report changed; the description holds the new answer.",
                next((x for x in a.text.splitlines() if x.startswith("Verdict:")), ""),
                "New files: " + (", ".join(str(f["posted_as"]) for f in new) or "none"),
            ]
            out.update(self._comment(self.key, "\n".join(x for x in lines if x), token))
        return out


def _found(key: str | None) -> dict[str, Any] | None:
    return {"issue": key} if key else None


def _read(spec: str, file: PostFile) -> bytes:
    try:
        return file.read()
    except OSError as e:
        raise PostError(spec, f"cannot read {file.path}: {e.strerror or e}") from None
