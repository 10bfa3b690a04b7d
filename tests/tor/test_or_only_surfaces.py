"""The class of "not Tor" that rests only on lists of relays' OR addresses: every surface that
says an address is "not Tor" says it the same way (``tor_caveat`` in the data, "not Tor
(OR-address lists only)" in words: :func:`torinvest.tor.status_label`) — never a plain "not
Tor" for such an address.

One investigation of the sample case (no kernel) in which :data:`NOT_LISTED` — "not Tor" on
2023-07-10 by dan.me.uk's lists and the bundled interval file only — makes a sensitive call
(the suspect key's CreateUser), signs in to the console with the password the key set, and
minted the key (a GetSessionToken record moved to that address). Every surface is walked:
``summary.json`` (any object naming the address with ``"tor": false``), ``events.csv`` and
``per_ip.csv`` (their ``tor_caveat`` column), the events and per-IP tables, the report's cards
(sensitive calls, where the key came from, console passwords, the answer) and the remediation
plan's notes. The shared sample report (one kernel run, shared) is walked too: its
``report.html``, ``summary.json`` and CSVs."""

from __future__ import annotations

import copy
import csv
import dataclasses
import gzip
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.campaign_case import ACCOUNT, FINDING, KEY, TRAIL_DAY, sample_records
from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from torinvest import actions, charts, display, investigation, report, tor
from torinvest.case import sample_case
from torinvest.report.folders import EVENTS_CSV, PER_IP_CSV
from torinvest.sources.logs import load_logs

#: Not listed on 2023-07-10, when only OR-address lists cover the day (the sample case's).
NOT_LISTED = "167.99.201.43"
CAVEAT = tor.OR_ONLY_CAVEAT
USER = "svc-backup-sync"  # the sample's backdoor user: CreateLoginProfile by KEY at 12:17:19
SESSION_KEY = "ASIATFQR7NSCNGEI5QNT"  # benjamin's GetSessionToken (its mint is in the logs)
#: Ways of saying "not Tor" that carry the caveat.
QUALIFIED = (tor.OR_ONLY_LABEL, f"not a Tor exit then, by {tor.OR_ONLY_WORDS}")
_PLAIN = re.compile(r"\bnot (?:a )?Tor\b", re.IGNORECASE)


def plain_not_tor(text: str) -> bool:
    """Whether ``text`` says "not Tor" (or "not a Tor exit") without the caveat."""
    for said in QUALIFIED:
        text = text.replace(said, "")
    return bool(_PLAIN.search(text))


def _records() -> list[dict[str, Any]]:
    """A console sign-in of the backdoor user from :data:`NOT_LISTED` after its password was
    set, and the suspect key's CreateUser (the sample's real record) made again from there."""
    sign_in: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDATFQR7NSCTQWQB8VOS",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{USER}",
            "accountId": ACCOUNT,
            "userName": USER,
        },
        "eventTime": "2023-07-10T12:29:50Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": NOT_LISTED,
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; rv:102.0) Gecko/20100101 Firefox/102.0",
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "No"},
        "eventID": "5c1e0f4a-0000-4000-8000-00000000b101",
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    real = next(
        r
        for r in sample_records()
        if r["eventName"] == "CreateUser" and r["userIdentity"].get("accessKeyId") == KEY
    )
    call = copy.deepcopy(real)
    call.update(
        eventTime="2023-07-10T12:31:00Z",
        sourceIPAddress=NOT_LISTED,
        eventID="5c1e0f4a-0000-4000-8000-00000000b102",
    )
    return [sign_in, call]


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> investigation.Investigation:
    case = tmp_path_factory.mktemp("or-only") / "case"
    shutil.copytree(sample_case().root, case)
    name = "218007301253_CloudTrail_us-east-1_20230710T1235Z_orOnly01.json.gz"
    body = json.dumps({"Records": _records()}, separators=(",", ":"))
    (case / "cloudtrail" / TRAIL_DAY / name).write_bytes(gzip.compress(body.encode()))
    src = investigation.sources_from_parameters(case_dir=str(case))
    src = dataclasses.replace(src, regions=list(SAMPLE_REGIONS))
    found = investigation.investigate(FINDING, src, **COVERED)
    # the key as if it were benjamin's GetSessionToken session, minted from NOT_LISTED: its
    # Tor status and caveat are asked by Investigation.key_origin, as for any mint
    (mint,) = load_logs(sample_case().cloudtrail, access_keys=SESSION_KEY, workers=1).mints
    mint = dataclasses.replace(mint, access_key_id=KEY, source_ip=NOT_LISTED)
    key = dataclasses.replace(found.key, kind="temporary", user_type="IAMUser")
    return dataclasses.replace(
        found, key=key, activity=dataclasses.replace(found.activity, mints=[mint])
    )


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in ``node`` with its path (list indexes as ``[]``)."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _objects(v, f"{path}.{k}")
    elif isinstance(node, list):
        for v in node:
            yield from _objects(v, f"{path}[]")


def json_said(data: Any, ip: str) -> tuple[set[str], list[str]]:
    """The paths of the objects of ``data`` that call ``ip`` "not Tor", and those of them that
    do so without the caveat."""
    said, bare = set(), []
    for path, obj in _objects(data):
        if ip in (obj.get("ip"), obj.get("source_ip")) and obj.get("tor") is False:
            said.add(path)
            if obj.get("tor_caveat") != CAVEAT:
                bare.append(path)
    return said, bare


def csv_said(path: Path, ip: str) -> tuple[int, list[dict[str, str]]]:
    """How many rows of the CSV at ``path`` call ``ip`` "not Tor" (``tor`` false), and those
    of them without the caveat (``tor_caveat``)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["source_ip"] == ip and r["tor"] == "false"]
    return len(rows), [r for r in rows if r.get("tor_caveat") != CAVEAT]


#: Where one statement ends: a table row (HTML, or an interactive table's JSON row), a
#: paragraph or item, a clause (``;``, `` and ``), a chart's trace.
_UNIT_END = re.compile(r"</tr>|</li>|</p>|; | and |\],\s*\[|\},\s*\{")


def html_units(html: str, ip: str) -> list[str]:
    """The statements of ``html`` that speak of ``ip`` (:data:`_UNIT_END`). A bar chart's
    statuses (one ``customdata`` list for all its bars) are left to the figure's own check."""
    units = _UNIT_END.split(html)
    return [u for u in units if ip in u and '"customdata":[' not in u]


def test_every_surface_says_the_caveat_of_an_or_only_not_tor(
    inv: investigation.Investigation, tmp_path: Path
) -> None:
    assert NOT_LISTED in inv.tor_or_only
    # summary.json: the IP, its sensitive call, the mint, the sign-in — each with the caveat
    data = json.loads(json.dumps(report.summary_data(inv), default=str))
    assert report.summary_problems(data) == []
    said, bare = json_said(data, NOT_LISTED)
    assert {
        ".source_ips[]",
        ".sensitive_events[]",
        ".key_origin.mints[]",
        ".console_passwords[].sign_ins[]",
    } <= said, said
    assert bare == []

    # the CSVs
    report.export_tables(inv, tmp_path)
    for name in (EVENTS_CSV, PER_IP_CSV):
        n, bare_rows = csv_said(tmp_path / name, NOT_LISTED)
        assert n and bare_rows == [], name

    # the tables (events, per IP): each row of the address
    for frame in (display.events_view(inv), display.events_frame(inv), display.per_ip_frame(inv)):
        cells = frame.loc[frame["source_ip"] == NOT_LISTED, "tor"].tolist()
        assert cells and set(cells) == {tor.OR_ONLY_LABEL}, cells

    # the charts: the address's bars and timeline points
    bars = charts.calls_per_ip(inv.by_time)
    said_bars = {
        c for t in bars.data for y, c in zip(t.y, t.customdata, strict=True) if NOT_LISTED in y
    }
    assert said_bars == {tor.OR_ONLY_LABEL}
    points = charts.timeline(inv.by_time)
    names = {t.name for t in points.data if any(NOT_LISTED in y for y in t.y)}
    assert names - {"failed calls"} == {tor.OR_ONLY_LABEL}

    # the cards and the plan: every statement about the address
    plan = actions.plan_remediation(inv.key, inv.events, origin=inv.key_origin())
    pieces = {
        "sensitive calls": display.sensitive_table(inv).data,
        "where the key came from, console passwords": display.derived_keys(inv).data,
        "the answer": display.answer_html(inv, {"status": "pending"}),
        "signals": display.signals_table(inv).data,
        "the plan's notes": "</p>".join(plan.notes),
    }
    for where, html in pieces.items():
        units = html_units(html, NOT_LISTED)
        assert units, where
        said_units = [u for u in units if "Tor" in u]
        assert said_units, where  # each piece says the address's Tor status
        assert [u for u in said_units if plain_not_tor(u)] == [], where


def test_the_sample_report_says_the_caveat_on_every_surface(sample_report: Path) -> None:
    """The shared report (no new kernel run): its summary.json, CSVs and report.html."""
    data = json.loads((sample_report / "summary.json").read_text(encoding="utf-8"))
    said, bare = json_said(data, NOT_LISTED)
    assert ".source_ips[]" in said and bare == []
    for name in (EVENTS_CSV, PER_IP_CSV):
        n, bare_rows = csv_said(sample_report / name, NOT_LISTED)
        assert n and bare_rows == [], name
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    units = [u for u in html_units(html, NOT_LISTED) if "Tor" in u]
    assert units
    assert [u[:300] for u in units if plain_not_tor(u)] == []


def test_the_walk_finds_a_plain_not_tor() -> None:
    """The walkers above see a plain "not Tor" where they look."""
    assert plain_not_tor("<td>167.99.201.43</td><td>not Tor</td>")
    assert plain_not_tor("from 167.99.201.43 (not a Tor exit then)")
    assert not plain_not_tor(f"<td>167.99.201.43</td><td>{tor.OR_ONLY_LABEL}</td>")
    assert not plain_not_tor(f"from 167.99.201.43 ({QUALIFIED[1]})")
    data = {"source_ips": [{"ip": NOT_LISTED, "tor": False}]}
    assert json_said(data, NOT_LISTED) == ({".source_ips[]"}, [".source_ips[]"])
