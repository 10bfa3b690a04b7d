"""ServiceNow: ``servicenow:TABLE:SYS_ID`` — the report's files attached to the record, the answer
as a work note.

Configuration (environment or env file): ``SERVICENOW_URL`` (``https://instance.service-now.com``)
and either ``SERVICENOW_USER`` + ``SERVICENOW_PASSWORD`` (HTTP basic) or ``SERVICENOW_TOKEN``
(an OAuth access token, ``Authorization: Bearer``).

Calls: ``GET /api/now/table/{table}/{sys_id}`` (the record is there: the Attachment API would
otherwise attach a file to a record that does not exist), ``POST /api/now/attachment/file?
table_name=…&table_sys_id=…&file_name=…`` with the file as the raw body and its own
``Content-Type``, ``PATCH /api/now/table/{table}/{sys_id}`` with ``{"work_notes": …}``. A work
note is plain text, but ServiceNow renders ``[code]…[/code]`` in journal fields as HTML: the
answer's ``[code]`` tags are broken up (``[ code]``) so report text never becomes markup.

"Was it already posted?" (a request whose answer was lost, a post resumed): the journal
(``GET /api/now/table/sys_journal_field``) is searched for the note's marker, the attachments
(``GET /api/now/attachment``) for the file's name. ServiceNow's read ACLs filter rows *silently*:
an account that may not read them gets ``200 {"result": []}``, the answer of "not there" — and a
note sent again on it is a second note. So an empty look-up is trusted only when it is not
blind: ``X-Total-Count`` (the rows the query matched, counted before the ACLs leave rows out)
must not count rows the answer does not show, and what this kit itself made on the record — an
attachment by its ``sys_id`` (recorded in posts.json, or attached earlier in this run), a work
note an earlier post of the report wrote — must be visible to the same look-up. Otherwise the
look-up fails ("cannot tell whether it is there": not sent again,
:class:`~torinvest.post.http.MaybePostedError`; the message says the way out — read access for
the account, or ``--force`` once a person has seen it is not there). With nothing of its own to
check against and no ``X-Total-Count`` (a query-time ACL that counts only what it shows), an
empty answer is read as "not there".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from torinvest.post.base import (
    Bundle,
    Context,
    DestinationSpec,
    PostConfigError,
    PostDeclinedError,
    PostError,
    PostFile,
    remote_id,
    require,
)
from torinvest.post.http import Http, Landed, check_url
from torinvest.post.jira import _Bearer, comment_text, post_marker, with_marker
from torinvest.safety import term_safe

_CODE_TAG = re.compile(r"\[(/?)(code)\]", re.I)
_JOURNAL = "/api/now/table/sys_journal_field"
_ATTACHMENTS = "/api/now/attachment"


def plain_note(text: str) -> str:
    """A work note ServiceNow shows as text: ``[code]`` tags broken up."""
    return _CODE_TAG.sub(r"[\1 \2]", text)


class ServiceNowRecord:
    """``servicenow:TABLE:SYS_ID``."""

    takes_files = True

    def __init__(self, spec: DestinationSpec, ctx: Context) -> None:
        self.spec = spec.text
        self.table, self.sys_id = spec.args
        env = ctx.env
        (url,) = require(env, self.spec, "SERVICENOW_URL")
        self.site = check_url(url, "SERVICENOW_URL", self.spec)
        token = str(env.get("SERVICENOW_TOKEN") or "").strip()
        password = str(env.get("SERVICENOW_PASSWORD") or "").strip()
        auth: httpx.Auth
        if token and password:
            raise PostConfigError(
                f"{self.spec}: both SERVICENOW_TOKEN and SERVICENOW_PASSWORD are set",
                hint="set SERVICENOW_TOKEN (OAuth), or SERVICENOW_USER and SERVICENOW_PASSWORD, "
                "not both",
            )
        if token:
            auth, who = _Bearer(token), "SERVICENOW_TOKEN"
        else:
            if not (password or env.get("SERVICENOW_USER")):
                raise PostConfigError(
                    f"{self.spec}: no ServiceNow credentials: set SERVICENOW_USER and "
                    "SERVICENOW_PASSWORD, or SERVICENOW_TOKEN",
                    hint="in the environment or in the file given with --env-file (never on the "
                    "command line)",
                )
            user, password = require(env, self.spec, "SERVICENOW_USER", "SERVICENOW_PASSWORD")
            auth, who = httpx.BasicAuth(user, password), "SERVICENOW_USER and SERVICENOW_PASSWORD"
        self.http = Http(
            self.spec,
            redactor=ctx.redactor,
            base_url=self.site,
            auth=auth,
            headers={"Accept": "application/json"},
            attempts=ctx.attempts,
            backoff=ctx.backoff,
            sleep=ctx.sleep,
            site_variable="SERVICENOW_URL",
            hints={
                401: f"ServiceNow refused {who}: check them",
                403: f"the account needs read and write access to {self.table} records and the "
                "attachment role (ACLs on sys_attachment)",
                404: f"check the table name and the sys_id: no {self.table} record {self.sys_id} "
                "is visible to this account",
                413: "the file is over the instance's attachment size limit "
                "(com.glide.attachment.max_size); post without --with-csv, or raise it",
            },
        )
        #: attachment sys_ids this kit made on the record (posts.json, this run)
        self.attachments: list[str] = []
        #: when an earlier post of this report wrote a work note to the record (posts.json)
        self.noted_at: str | None = None
        #: the record's sys_mod_count when it was looked up (None: not read)
        self.mod_count: int | None = None

    def recall(self, history: Sequence[Mapping[str, Any]]) -> None:
        """What earlier posts of this report made on this record (its posts.json): what an
        empty look-up must still see for "not there" to be believed."""
        for post in history:
            for step in post.get("steps") or []:
                remote = step.get("remote") or {}
                if step.get("step") == "upload" and remote.get("attachment_sys_id"):
                    self.attachments.append(str(remote["attachment_sys_id"]))
                elif step.get("step") == "note" and remote.get("work_note_on") == self.sys_id:
                    self.noted_at = f"at {step['at']}" if step.get("at") else "before"

    def close(self) -> None:
        self.http.close()

    def content(self, bundle: Bundle) -> str:
        return plain_note(comment_text(bundle, bundle.files))

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        what = f"look up {self.table} record {self.sys_id}"
        response = self.http.request(
            "GET",
            f"/api/now/table/{self.table}/{self.sys_id}",
            params={"sysparm_fields": "sys_id,number,sys_mod_count"},
            what=what,
            ok=(200,),
        )
        result = self._record(response, what)
        self.mod_count = _count(result.get("sys_mod_count"))
        return {"record": self.sys_id, "number": term_safe(result.get("number")) or None}

    def _record(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The record a table call answered with: it must be this one (its ``sys_id``) — a 200
        without it (``{"result": {}}``, a list, null) says nothing was read or written."""
        doc = self.http.json(response, what, "result")
        result = doc["result"] if isinstance(doc["result"], dict) else {}
        hint = f"check the {self.table} record {self.sys_id} in ServiceNow; post again to retry"
        got = remote_id(self.spec, result.get("sys_id"), what, "record sys_id", hint)
        if got != self.sys_id:
            raise PostError(
                self.spec,
                f"{what}: the answer is of record {term_safe(got, limit=40)}, not {self.sys_id}",
                hint=hint,
            )
        return result

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        what = f"attach {file.name} to {self.table} {self.sys_id}"
        try:
            data = file.read()
        except OSError as e:
            raise PostError(self.spec, f"cannot read {file.path}: {e.strerror or e}") from None
        response = self.http.make(
            "POST",
            "/api/now/attachment/file",
            check=f"the attachments of {self.table} {self.sys_id} for {file.posted_as}",
            landed=lambda: self._find_attachment(file.posted_as),
            params={
                "table_name": self.table,
                "table_sys_id": self.sys_id,
                "file_name": file.posted_as,
            },
            what=what,
            ok=(200, 201),
            size=file.size,
            headers={"Content-Type": file.media_type},
            content=data,
        )
        if isinstance(response, Landed):
            made = response.found
        else:
            doc = self.http.json(response, what, "result")
            result = doc["result"] if isinstance(doc["result"], dict) else {}
            hint = "check on the record whether the file arrived; post again to retry"
            made = {
                "attachment_sys_id": remote_id(
                    self.spec, result.get("sys_id"), what, "attachment sys_id", hint
                )
            }
        self.attachments.append(made["attachment_sys_id"])
        return made

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        what = f"add a work note to {self.table} {self.sys_id}"
        marker = post_marker(token)
        response = self.http.make(
            "PATCH",
            f"/api/now/table/{self.table}/{self.sys_id}",
            params={"sysparm_fields": "sys_id,sys_updated_on,sys_mod_count"},
            what=what,
            check=f"the work notes of {self.table} {self.sys_id} for one ending '{marker}'",
            landed=lambda: self._find_note(marker),
            ok=(200,),
            json={"work_notes": with_marker(self.content(bundle), token)},
        )
        if isinstance(response, Landed):
            return response.found
        result = self._record(response, what)
        after = _count(result.get("sys_mod_count"))
        if self.mod_count is not None and after is not None and after <= self.mod_count:
            # a journal entry is an update of the record: a 200 that left it as it was wrote
            # nothing — ServiceNow drops a field its write ACLs deny, silently
            raise PostDeclinedError(
                self.spec,
                f"{what}: ServiceNow answered 200 but wrote nothing (the record's "
                f"sys_mod_count is still {after}): this account may not write work notes — a "
                "field write ACL drops the field silently",
                hint=f"give the account write access to {self.table}.work_notes (e.g. the itil "
                "role), then post again",
            )
        return {"work_note_on": self.sys_id, "updated_on": term_safe(result.get("sys_updated_on"))}

    def _query(self, path: str, query: str, what: str) -> list[Any]:
        """The ``result`` list of a Table or Attachment API query (``sysparm_query``, one row).
        An answer whose ``X-Total-Count`` counts rows it does not show is blind (read ACLs left
        them out): a :class:`PostError`, never "none"."""
        response = self.http.request(
            "GET",
            path,
            params={"sysparm_query": query, "sysparm_limit": "1"},
            what=what,
            ok=(200,),
        )
        doc = self.http.json(response, what, "result")
        if not isinstance(doc["result"], list):
            raise PostError(self.spec, f"{what}: the answer's result is not a list")
        rows: list[Any] = doc["result"]
        total = _total_count(response)
        if not rows and total:
            raise self._blind(
                f"{what}: the answer shows no row, yet counts {total} (X-Total-Count): "
                "ServiceNow's read ACLs leave out rows this account may not read"
            )
        return rows

    def _find_note(self, marker: str) -> dict[str, Any] | None:
        """The work note of this record that holds ``marker`` (the journal, ``sys_journal_field``),
        or None — only when the journal shows a work note this kit wrote to the record before
        (if it wrote one): else it is blind (:class:`PostError`)."""
        what = f"look for the work note in {self.table} {self.sys_id}'s journal"
        found = self._query(
            _JOURNAL, f"element_id={self.sys_id}^element=work_notes^valueLIKE{marker}", what
        )
        if found and isinstance(found[0], dict):
            journal = remote_id(self.spec, found[0].get("sys_id"), what, "journal entry sys_id")
            return {"work_note_on": self.sys_id, "journal_entry": journal}
        if self.noted_at is not None and not self._query(
            _JOURNAL, f"element_id={self.sys_id}^element=work_notes", what
        ):
            raise self._blind(
                f"{what}: no entry found — but the journal does not show the work note "
                f"torinvest wrote to it {self.noted_at} either: ServiceNow's read ACLs hide "
                "the journal (sys_journal_field) from this account"
            )
        return None

    def _find_attachment(self, name: str) -> dict[str, Any] | None:
        """The attachment of this record named ``name`` (posted names hold the file's SHA-256),
        or None — only when an attachment this kit made (if it made one) is visible to the same
        look-up: else it is blind (:class:`PostError`)."""
        what = f"list the attachments of {self.table} {self.sys_id}"
        found = self._query(
            _ATTACHMENTS,
            f"table_name={self.table}^table_sys_id={self.sys_id}^file_name={name}",
            what,
        )
        if found and isinstance(found[0], dict):
            got = remote_id(self.spec, found[0].get("sys_id"), what, "attachment sys_id")
            return {"attachment_sys_id": got}
        if self.attachments and not self._query(
            _ATTACHMENTS, f"sys_id={self.attachments[-1]}", what
        ):
            raise self._blind(
                f"{what}: no {name} found — but the attachment torinvest made on the record "
                f"({self.attachments[-1]}) is not shown either: ServiceNow's read ACLs hide "
                "attachments (sys_attachment) from this account, or it was deleted"
            )
        return None

    def _blind(self, why: str) -> PostError:
        """A look-up that cannot see: "not there" would not be true. The way out is in the
        problem itself (the "may have been posted" error that quotes it has its own hint)."""
        return PostError(
            self.spec,
            f"{why}: it cannot tell whether it is there (give the account read access to the "
            f"work notes and attachments of {self.table} records so that a post can look; if a "
            "person has seen it is not there, --force posts it without looking)",
        )


def _count(value: Any) -> int | None:
    """A count field of a Table API answer (``"3"``: values are strings), or None."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    return int(text) if text.isdigit() else None


def _total_count(response: httpx.Response) -> int | None:
    """``X-Total-Count`` of a list answer (the rows the query matched), or None."""
    value = response.headers.get("x-total-count", "").strip()
    return int(value) if value.isdigit() else None
