"""A local Jira (Cloud: REST API 3, basic auth with an e-mail and an API token; Data Center:
REST API 2, a personal access token as ``Authorization: Bearer``), checking each request against
Atlassian's documented contract:

* ``GET /rest/api/{v}/issue/{key}`` — 404 ``Issue does not exist or you do not have permission to
  see it.`` for an unknown key;
* ``POST /rest/api/{v}/issue/{key}/attachments`` — ``X-Atlassian-Token: no-check`` (else 403
  ``XSRF check failed``), ``multipart/form-data`` whose parts are all named ``file`` with a file
  name (else 415 / 400), each part at most :attr:`FakeJira.max_attachment_bytes` (else 413);
  answers 200 with the list of attachments;
* ``POST /rest/api/{v}/issue/{key}/comment`` — JSON ``{"body": …}``: an Atlassian Document
  Format ``doc`` on API 3, a string on API 2; answers 201 with the comment's ``id``;
* ``GET /rest/api/{v}/issue/{key}/comment`` — ``startAt``, ``maxResults`` (1–5000),
  ``orderBy`` (``created``, ``-created``, ``+created``; anything else: 400); answers
  ``{"startAt", "maxResults", "total", "comments"}``;
* ``GET /rest/api/{v}/issue/{key}?fields=…`` — the fields asked for (``summary``,
  ``attachment``: each attachment's ``id``, ``filename``, ``size``, ``mimeType``);
* ``POST /rest/api/{v}/issue`` (create: project, issue type, one-line summary ≤ 255 characters,
  labels without spaces, the description's format as for comments), ``PUT
  /rest/api/{v}/issue/{key}`` (edit; 204);
* ``GET /rest/api/3/search/jql`` (Cloud) / ``GET /rest/api/2/search`` (Data Center) with the JQL
  ``project = "P" AND labels = "L" ORDER BY created ASC`` (other JQL: 400). Cloud's search is
  eventually consistent ("from a few seconds to minutes", Atlassian's *search and reconcile*):
  with ``search_lag`` set, an issue created is not found by the search until
  :meth:`FakeJira.index` (Data Center's search is consistent).

State: ``add_issue("SEC-1")``, ``projects``, ``issues[key]`` (``attachments``, ``comments``,
``fields``), ``issue_types``; credentials ``email``/``api_token`` (Cloud) or ``pat`` (Data
Center).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from tests.fake_tickets.server import (
    Answer,
    ContractError,
    FakeHttpService,
    Part,
    json_answer,
)

NOT_FOUND = "Issue does not exist or you do not have permission to see it."
_ISSUE = r"(?P<key>[A-Z][A-Z0-9_]*-\d+)"
_JQL = re.compile(
    r'^project = "(?P<project>[A-Z][A-Z0-9_]*)" AND labels = "(?P<label>[^"\s]+)"'
    r"(?: ORDER BY created ASC)?$"
)


class FakeJira(FakeHttpService):
    name = "jira"

    def __init__(
        self,
        *,
        cloud: bool = True,
        email: str = "analyst@example.com",
        api_token: str = "jira-cloud-token-7Qx9",
        pat: str = "jira-dc-pat-Zr41",
        max_attachment_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        super().__init__()
        self.cloud = cloud
        self.email = email
        self.api_token = api_token
        self.pat = pat
        self.max_attachment_bytes = max_attachment_bytes
        self.projects: set[str] = {"SEC"}
        self.issue_types: set[str] = {"Task", "Bug", "Incident"}
        self.issues: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(10000)
        self._keys: dict[str, itertools.count] = {}
        #: Cloud: issues created from now on are not searchable until :meth:`index`
        self.search_lag = False
        self._unindexed: set[str] = set()

    def index(self) -> None:
        """Cloud's search catches up: every issue created is found by it."""
        with self._lock:
            self._unindexed.clear()

    @property
    def api(self) -> str:
        return "3" if self.cloud else "2"

    def add_issue(self, key: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            project = key.split("-")[0]
            self.projects.add(project)
            issue = {
                "id": str(next(self._ids)),
                "key": key,
                "fields": {"summary": f"issue {key}", "labels": [], **fields},
                "attachments": [],
                "comments": [],
            }
            self.issues[key] = issue
            return issue

    # -- routing
    def route(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        base = f"/rest/api/{self.api}"
        table = [
            ("GET", rf"{base}/issue/{_ISSUE}", "get_issue"),
            ("PUT", rf"{base}/issue/{_ISSUE}", "edit_issue"),
            ("POST", rf"{base}/issue/{_ISSUE}/attachments", "attach"),
            ("POST", rf"{base}/issue/{_ISSUE}/comment", "comment"),
            ("GET", rf"{base}/issue/{_ISSUE}/comment", "list_comments"),
            ("POST", rf"{base}/issue", "create_issue"),
            ("GET", rf"{base}/search/jql" if self.cloud else rf"{base}/search", "search"),
        ]
        for m, pattern, operation in table:
            match = re.fullmatch(pattern, path)
            if m == method and match:
                return operation, match.groupdict()
        return None

    def not_found(self, method: str, path: str) -> Answer:
        return json_answer(404, {"errorMessages": [f"null for uri: {path}"], "errors": {}})

    def authenticate(self, headers: Mapping[str, str], operation: str) -> Answer | None:
        auth = headers.get("authorization", "")
        if self.cloud:
            expected = (
                "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
            )
        else:
            expected = f"Bearer {self.pat}"
        if auth == expected:
            return None
        return json_answer(
            401,
            {
                "errorMessages": [
                    "You are not authenticated. Authentication required to perform this operation."
                ],
                "errors": {},
            },
        )

    # -- answers
    def answer(
        self,
        operation: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        parts: list[Part],
    ) -> Answer:
        if "application/json" not in headers.get("accept", "") and operation != "attach":
            self.violations.append(f"{operation}: no Accept: application/json")
        if operation == "search":
            return self._search(query)
        if operation == "create_issue":
            return self._create(_json(body))
        issue = self.issues.get(params.get("key", ""))
        if issue is None:
            return json_answer(404, {"errorMessages": [NOT_FOUND], "errors": {}})
        if operation == "get_issue":
            wanted = set(",".join(query.get("fields") or ["summary"]).split(","))
            unknown = wanted - {"summary", "attachment", "labels", "*all"}
            if unknown:
                self.violations.append(f"get_issue: fields the fake does not know: {unknown}")
            shown: dict[str, Any] = {}
            if wanted & {"summary", "*all"}:
                shown["summary"] = issue["fields"]["summary"]
            if wanted & {"attachment", "*all"}:
                shown["attachment"] = [
                    {k: v for k, v in a.items() if k != "data"} for a in issue["attachments"]
                ]
            return json_answer(200, {"id": issue["id"], "key": issue["key"], "fields": shown})
        if operation == "list_comments":
            return self._list_comments(issue, query)
        if operation == "attach":
            return self._attach(issue, headers, parts)
        if operation == "comment":
            doc = _json(body)
            if set(doc) - {"body", "visibility", "properties"} or "body" not in doc:
                raise _bad(f"unexpected comment fields {sorted(doc)}", {"comment": "bad fields"})
            self._check_body(doc["body"], "comment")
            comment = {"id": str(next(self._ids)), "body": doc["body"]}
            issue["comments"].append(comment)
            return json_answer(201, {**comment, "self": f"{self.url}/comment/{comment['id']}"})
        if operation == "edit_issue":
            doc = _json(body)
            fields = doc.get("fields")
            if not isinstance(fields, dict) or not fields:
                raise _bad("an edit needs fields", {"fields": "missing"})
            if "description" in fields:
                self._check_body(fields["description"], "description")
            issue["fields"].update(fields)
            return Answer(204)
        raise AssertionError(operation)

    def _list_comments(self, issue: dict[str, Any], query: dict[str, list[str]]) -> Answer:
        order = (query.get("orderBy") or ["created"])[0]
        if order not in ("created", "-created", "+created"):
            raise _bad(f"orderBy {order!r} is not a comment order", {"orderBy": "invalid"})
        try:
            start = int((query.get("startAt") or ["0"])[0])
            size = int((query.get("maxResults") or ["5000"])[0])
        except ValueError:
            raise _bad("startAt / maxResults are not numbers", {"maxResults": "invalid"}) from None
        if start < 0 or not 1 <= size <= 5000:
            raise _bad(f"startAt {start} / maxResults {size} out of range", {})
        comments = list(issue["comments"])
        if order == "-created":
            comments.reverse()
        page = comments[start : start + size]
        return json_answer(
            200,
            {"startAt": start, "maxResults": size, "total": len(comments), "comments": page},
        )

    def _check_body(self, body: Any, field: str) -> None:
        if self.cloud:
            problem = _adf_problem(body)
            if problem:
                raise _bad(
                    f"{field} is not Atlassian Document Format: {problem}",
                    {
                        field: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                    },
                )
        elif not isinstance(body, str) or not body.strip():
            raise _bad(
                f"{field} must be a non-empty string on API 2",
                {field: "Comment body can not be empty!"},
            )

    def _attach(
        self, issue: dict[str, Any], headers: Mapping[str, str], parts: list[Part]
    ) -> Answer:
        if headers.get("x-atlassian-token") != "no-check":
            raise ContractError(
                "no X-Atlassian-Token: no-check header",
                Answer(403, b"XSRF check failed", "text/plain"),
            )
        if not headers.get("content-type", "").startswith("multipart/form-data"):
            raise ContractError(
                "not multipart/form-data",
                json_answer(415, {"errorMessages": ["Unsupported Media Type"]}),
            )
        if not parts or any(p.name != "file" or not p.filename for p in parts):
            raise _bad(
                f"parts must be named 'file' with a file name: {[(p.name, p.filename) for p in parts]}",
                {"file": "missing"},
            )
        if any(len(p.data) > self.max_attachment_bytes for p in parts):
            return json_answer(
                413,
                {"errorMessages": ["The attachment is larger than the maximum attachment size."]},
            )
        out = []
        for p in parts:
            attachment = {
                "id": str(next(self._ids)),
                "filename": p.filename,
                "size": len(p.data),
                "mimeType": p.content_type,
                "data": p.data,
            }
            issue["attachments"].append(attachment)
            out.append(
                {k: v for k, v in attachment.items() if k != "data"}
                | {"self": f"{self.url}/attachment/{attachment['id']}"}
            )
        return json_answer(200, out)

    def _create(self, doc: dict[str, Any]) -> Answer:
        fields = doc.get("fields") if isinstance(doc.get("fields"), dict) else {}
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in self.issue_types:
            errors["issuetype"] = "valid issue type is required"
        summary = fields.get("summary")
        if (
            not isinstance(summary, str)
            or not summary.strip()
            or "\n" in summary
            or len(summary) > 255
        ):
            errors["summary"] = "Summary must be one line of at most 255 characters."
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or re.search(r"\s", label) or len(label) > 255:
                errors["labels"] = "Labels cannot contain spaces."
        if "description" in fields:
            try:
                self._check_body(fields["description"], "description")
            except ContractError as e:
                errors["description"] = e.problem
        if errors:
            raise _bad(f"create refused: {errors}", errors)
        key = f"{project}-{next(self._keys.setdefault(project, itertools.count(100)))}"
        issue = self.add_issue(key, **{k: v for k, v in fields.items() if k != "project"})
        if self.search_lag and self.cloud:
            self._unindexed.add(key)
        return json_answer(
            201, {"id": issue["id"], "key": key, "self": f"{self.url}/issue/{issue['id']}"}
        )

    def _search(self, query: dict[str, list[str]]) -> Answer:
        jql = (query.get("jql") or [""])[0]
        match = _JQL.match(jql)
        if not match:
            raise _bad(f"JQL the fake does not know: {jql!r}", {"jql": "Error in the JQL Query"})
        found = [
            {"id": i["id"], "key": i["key"]}
            for i in self.issues.values()
            if i["key"] not in self._unindexed
            and i["key"].split("-")[0] == match["project"]
            and match["label"] in (i["fields"].get("labels") or [])
        ]
        if self.cloud:
            return json_answer(200, {"issues": found, "isLast": True})
        return json_answer(
            200, {"issues": found, "total": len(found), "startAt": 0, "maxResults": 50}
        )


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise _bad("the body is not JSON", {}) from None
    if not isinstance(doc, dict):
        raise _bad("the body is not a JSON object", {})
    return doc


def _bad(problem: str, errors: dict[str, str]) -> ContractError:
    return ContractError(
        problem, json_answer(400, {"errorMessages": [], "errors": errors or {"body": problem}})
    )


def _adf_problem(node: Any, top: bool = True) -> str | None:
    """What makes ``node`` not an ADF document (the subset this kit writes), or None."""
    if not isinstance(node, dict) or "type" not in node:
        return "a node that is not an object with a type"
    if top and (node.get("type") != "doc" or node.get("version") != 1):
        return "the top node is not {type: doc, version: 1}"
    if node["type"] == "text":
        text = node.get("text")
        return None if isinstance(text, str) and text else "a text node without text"
    content = node.get("content", [])
    if not isinstance(content, list):
        return "content is not a list"
    for child in content:
        problem = _adf_problem(child, top=False)
        if problem:
            return problem
    return None
