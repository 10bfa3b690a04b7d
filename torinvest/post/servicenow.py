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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
from torinvest.post.jira import _Bearer, comment_text, post_marker, with_marker
from torinvest.safety import term_safe

_CODE_TAG = re.compile(r"\[(/?)(code)\]", re.I)


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

    def close(self) -> None:
        self.http.close()

    def content(self, bundle: Bundle) -> str:
        return plain_note(comment_text(bundle, bundle.files))

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        what = f"look up {self.table} record {self.sys_id}"
        response = self.http.request(
            "GET",
            f"/api/now/table/{self.table}/{self.sys_id}",
            params={"sysparm_fields": "sys_id,number"},
            what=what,
            ok=(200,),
        )
        result = self._record(response, what)
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
            return response.found
        doc = self.http.json(response, what, "result")
        result = doc["result"] if isinstance(doc["result"], dict) else {}
        hint = "check on the record whether the file arrived; post again to retry"
        return {
            "attachment_sys_id": remote_id(
                self.spec, result.get("sys_id"), what, "attachment sys_id", hint
            )
        }

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        what = f"add a work note to {self.table} {self.sys_id}"
        marker = post_marker(token)
        response = self.http.make(
            "PATCH",
            f"/api/now/table/{self.table}/{self.sys_id}",
            params={"sysparm_fields": "sys_id,sys_updated_on"},
            what=what,
            check=f"the work notes of {self.table} {self.sys_id} for one ending '{marker}'",
            landed=lambda: self._find_note(marker),
            ok=(200,),
            json={"work_notes": with_marker(self.content(bundle), token)},
        )
        if isinstance(response, Landed):
            return response.found
        result = self._record(response, what)
        return {"work_note_on": self.sys_id, "updated_on": term_safe(result.get("sys_updated_on"))}

    def _query(self, path: str, query: str, what: str) -> list[Any]:
        """The ``result`` list of a Table or Attachment API query (``sysparm_query``, one row)."""
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
        return doc["result"]

    def _find_note(self, marker: str) -> dict[str, Any] | None:
        """The work note of this record that holds ``marker`` (the journal, ``sys_journal_field``),
        or None."""
        what = f"look for the work note in {self.table} {self.sys_id}'s journal"
        found = self._query(
            "/api/now/table/sys_journal_field",
            f"element_id={self.sys_id}^element=work_notes^valueLIKE{marker}",
            what,
        )
        if not found or not isinstance(found[0], dict):
            return None
        journal = remote_id(self.spec, found[0].get("sys_id"), what, "journal entry sys_id")
        return {"work_note_on": self.sys_id, "journal_entry": journal}

    def _find_attachment(self, name: str) -> dict[str, Any] | None:
        """The attachment of this record named ``name`` (posted names hold the file's SHA-256),
        or None."""
        what = f"list the attachments of {self.table} {self.sys_id}"
        found = self._query(
            "/api/now/attachment",
            f"table_name={self.table}^table_sys_id={self.sys_id}^file_name={name}",
            what,
        )
        if not found or not isinstance(found[0], dict):
            return None
        got = remote_id(self.spec, found[0].get("sys_id"), what, "attachment sys_id")
        return {"attachment_sys_id": got}
