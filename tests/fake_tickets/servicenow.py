"""A local ServiceNow instance (Table API and Attachment API), checking each request against the
documented contract; basic auth (``user``/``password``) or an OAuth bearer ``token``:

* ``GET /api/now/table/{table}/{sys_id}`` — ``{"result": {…}}``, or 404 ``No Record found``;
* ``PATCH`` (or ``PUT``) ``/api/now/table/{table}/{sys_id}`` — a JSON object; ``work_notes`` is
  appended to the record's journal (and ``sys_mod_count`` goes up); ``{"result": {…}}``. A field
  the account may not write (:attr:`FakeServiceNow.write_denied`: a field write ACL) is dropped
  silently, as ServiceNow does — still 200, the record unchanged;
* ``POST /api/now/attachment/file?table_name=…&table_sys_id=…&file_name=…`` — the file as the raw
  body with its own ``Content-Type`` (a multipart body, or none, breaks the contract: the real
  instance would store the multipart envelope as the file), each at most
  :attr:`FakeServiceNow.max_attachment_bytes` (else 413); 201 ``{"result": {"sys_id", …}}``.
  Like the real one, it attaches to a ``table_sys_id`` that does not exist (an orphan, listed
  in :attr:`FakeServiceNow.orphans`): why the client looks the record up first;
* ``GET /api/now/table/sys_journal_field?sysparm_query=…`` — the journal (each work note an
  entry: ``element_id`` the record's sys_id, ``element`` ``work_notes``, ``value`` the text);
  the encoded query may hold ``element_id=``, ``element=``, ``name=`` and ``valueLIKE``
  conditions joined by ``^`` (anything else breaks the contract of this fake: 400);
* ``GET /api/now/attachment?sysparm_query=…`` — attachments' metadata by ``table_name=``,
  ``table_sys_id=`` and ``file_name=`` conditions; ``sysparm_limit`` on both, and a
  ``sys_id=`` condition on both.

Both list queries answer ``X-Total-Count`` (the rows that match, before ``sysparm_limit``). Read
ACLs filter rows the way ServiceNow's do: silently, after the query (KB3047115, "200 OK with an
empty result array, but the records demonstrably exist"): ``acl_hidden`` names the tables
(``sys_journal_field``, ``sys_attachment``) whose rows this account may not read — the answer is
200 with those rows left out; :attr:`FakeServiceNow.total_count` says what ``X-Total-Count``
counts then: ``"before-acl"`` (the rows the query matched, hidden ones included, as the Table
API counts before it filters a page), ``"after-acl"`` (only the rows shown: a query-time
filter) or None (no header).

State: ``add_record("incident", sys_id)``, ``records[(table, sys_id)]`` (``work_notes``,
``attachments``).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tests.fake_tickets.server import Answer, ContractError, FakeHttpService, Part, json_answer

_TABLE = r"(?P<table>[a-z][a-z0-9_]*)"
_SYS_ID = r"(?P<sys_id>[0-9a-f]{32})"


class FakeServiceNow(FakeHttpService):
    name = "servicenow"

    def __init__(
        self,
        *,
        user: str = "torinvest.bot",
        password: str = "sn-pass-Hq82!x",
        token: str = "sn-oauth-Lm55",
        max_attachment_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        super().__init__()
        self.user, self.password, self.token = user, password, token
        self.max_attachment_bytes = max_attachment_bytes
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.orphans: list[dict[str, Any]] = []
        self.journal: list[dict[str, Any]] = []
        self._numbers = itertools.count(10001)
        #: tables whose rows read ACLs hide from this account (answered 200, left out)
        self.acl_hidden: set[str] = set()
        #: what X-Total-Count counts under an ACL: "before-acl", "after-acl", None (no header)
        self.total_count: str | None = "before-acl"
        #: fields a write ACL keeps this account from writing (dropped silently: still 200)
        self.write_denied: set[str] = set()

    def add_record(self, table: str, sys_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            sys_id = sys_id or uuid.uuid4().hex
            record = {
                "sys_id": sys_id,
                "number": f"INC{next(self._numbers):07d}",
                "work_notes": [],
                "attachments": [],
                "sys_updated_on": "2024-01-01 00:00:00",
                "sys_mod_count": "0",
            }
            self.records[(table, sys_id)] = record
            return record

    def route(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        table = [
            ("GET", rf"/api/now/table/{_TABLE}/{_SYS_ID}", "get_record"),
            ("PATCH", rf"/api/now/table/{_TABLE}/{_SYS_ID}", "update_record"),
            ("PUT", rf"/api/now/table/{_TABLE}/{_SYS_ID}", "update_record"),
            ("POST", r"/api/now/attachment/file", "attach"),
            ("GET", r"/api/now/attachment", "list_attachments"),
            ("GET", r"/api/now/table/sys_journal_field", "query_journal"),
        ]
        for m, pattern, operation in table:
            match = re.fullmatch(pattern, path)
            if m == method and match:
                return operation, match.groupdict()
        return None

    def not_found(self, method: str, path: str) -> Answer:
        return json_answer(
            400,
            {
                "error": {
                    "message": "Requested URI does not represent any resource",
                    "detail": None,
                },
                "status": "failure",
            },
        )

    def authenticate(self, headers: Mapping[str, str], operation: str) -> Answer | None:
        import base64

        auth = headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if auth in (basic, f"Bearer {self.token}"):
            return None
        return json_answer(
            401,
            {
                "error": {
                    "message": "User Not Authenticated",
                    "detail": "Required to provide Auth information",
                },
                "status": "failure",
            },
        )

    def answer(
        self,
        operation: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        parts: list[Part],
    ) -> Answer:
        if "application/json" not in headers.get("accept", ""):
            self.violations.append(
                f"{operation}: no Accept: application/json (XML would come back)"
            )
        if operation == "attach":
            return self._attach(query, headers, body)
        if operation == "query_journal":
            rows = [
                {
                    "sys_id": e["sys_id"],
                    "element_id": e["element_id"],
                    "element": "work_notes",
                    "name": e["name"],
                    "value": e["value"],
                }
                for e in self.journal
            ]
            return self._query(
                rows,
                query,
                ("sys_id", "element_id", "element", "name"),
                "value",
                "sys_journal_field",
            )
        if operation == "list_attachments":
            rows = [
                {k: v for k, v in a.items() if k != "data"}
                for r in self.records.values()
                for a in r["attachments"]
            ]
            return self._query(
                rows,
                query,
                ("sys_id", "table_name", "table_sys_id", "file_name"),
                None,
                "sys_attachment",
            )
        record = self.records.get((params["table"], params["sys_id"]))
        if record is None:
            return json_answer(
                404,
                {
                    "error": {
                        "message": "No Record found",
                        "detail": "Record doesn't exist or ACL restricts the record retrieval",
                    },
                    "status": "failure",
                },
            )
        if operation == "get_record":
            return json_answer(200, {"result": _fields(record, query)})
        try:
            doc = json.loads(body)
        except ValueError:
            raise ContractError(
                "update body is not JSON",
                json_answer(
                    400,
                    {"error": {"message": "Exception while reading request"}, "status": "failure"},
                ),
            ) from None
        if not isinstance(doc, dict):
            raise ContractError(
                "update body is not an object",
                json_answer(400, {"error": {"message": "Invalid body"}}),
            )
        if not headers.get("content-type", "").startswith("application/json"):
            self.violations.append("update_record: Content-Type is not application/json")
        if "work_notes" in doc and "work_notes" in self.write_denied:
            return json_answer(200, {"result": _fields(record, query)})
        if "work_notes" in doc:
            if not isinstance(doc["work_notes"], str):
                raise ContractError(
                    "work_notes is not a string",
                    json_answer(400, {"error": {"message": "Invalid work_notes"}}),
                )
            record["work_notes"].append(doc["work_notes"])
            table = next(t for (t, i), r in self.records.items() if r is record)
            self.journal.append(
                {
                    "sys_id": uuid.uuid4().hex,
                    "element_id": record["sys_id"],
                    "name": table,
                    "value": doc["work_notes"],
                }
            )
        record["sys_updated_on"] = f"2024-01-01 00:00:{len(record['work_notes']):02d}"
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
        return json_answer(200, {"result": _fields(record, query)})

    def _attach(
        self, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        missing = [
            k for k in ("table_name", "table_sys_id", "file_name") if not (query.get(k) or [""])[0]
        ]
        if missing:
            raise ContractError(
                f"missing query parameters {missing}",
                json_answer(
                    400,
                    {"error": {"message": f"Missing parameter: {missing[0]}"}, "status": "failure"},
                ),
            )
        ctype = headers.get("content-type", "")
        if not ctype or ctype.startswith("multipart/"):
            raise ContractError(
                f"the file must be the raw body with its own Content-Type, not {ctype or 'none'}",
                json_answer(
                    415, {"error": {"message": "Unsupported Media Type"}, "status": "failure"}
                ),
            )
        if not body:
            raise ContractError(
                "empty attachment", json_answer(400, {"error": {"message": "Empty file"}})
            )
        if len(body) > self.max_attachment_bytes:
            return json_answer(
                413,
                {
                    "error": {
                        "message": "Request entity too large",
                        "detail": "Attachment exceeds the maximum size",
                    },
                    "status": "failure",
                },
            )
        table, sys_id, name = (query[k][0] for k in ("table_name", "table_sys_id", "file_name"))
        attachment = {
            "sys_id": uuid.uuid4().hex,
            "file_name": name,
            "table_name": table,
            "table_sys_id": sys_id,
            "content_type": ctype,
            "size_bytes": str(len(body)),
            "data": body,
        }
        record = self.records.get((table, sys_id))
        (record["attachments"] if record is not None else self.orphans).append(attachment)
        return json_answer(201, {"result": {k: v for k, v in attachment.items() if k != "data"}})

    def _query(
        self,
        rows: list[dict[str, Any]],
        query: dict[str, list[str]],
        equals: tuple[str, ...],
        like: str | None,
        table: str,
    ) -> Answer:
        """``rows`` filtered by an encoded query (``a=b^cLIKEd``) of the conditions this fake
        knows, then by the read ACL of ``table`` (:attr:`acl_hidden`), cut to
        ``sysparm_limit``; ``X-Total-Count`` as :attr:`total_count` says."""
        encoded = (query.get("sysparm_query") or [""])[0]
        conditions = [c for c in encoded.split("^") if c]
        for c in conditions:
            if like and c.startswith(f"{like}LIKE"):
                text = c[len(like) + 4 :]
                rows = [r for r in rows if text in str(r.get(like))]
                continue
            name, op, value = c.partition("=")
            if not op or name not in equals:
                raise ContractError(
                    f"a query condition the fake does not know: {c!r}",
                    json_answer(400, {"error": {"message": "Invalid query"}}),
                )
            rows = [r for r in rows if str(r.get(name)) == value]
        matched = len(rows)
        if table in self.acl_hidden:
            rows = []  # the account may read none of the table's rows: left out, still 200
        limit = (query.get("sysparm_limit") or [""])[0]
        if limit:
            if not limit.isdigit():
                raise ContractError(
                    f"sysparm_limit {limit!r}", json_answer(400, {"error": {"message": "x"}})
                )
            shown = rows[: int(limit)]
        else:
            shown = rows
        if self.total_count is None:
            return json_answer(200, {"result": shown})
        total = matched if self.total_count == "before-acl" else len(rows)
        return json_answer(200, {"result": shown}, **{"X-Total-Count": str(total)})


def _fields(record: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    wanted = (query.get("sysparm_fields") or [""])[0]
    shown = {k: v for k, v in record.items() if k not in ("work_notes", "attachments")}
    if wanted:
        shown = {k: v for k, v in shown.items() if k in wanted.split(",")}
    return shown
