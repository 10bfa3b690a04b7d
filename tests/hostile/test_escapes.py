"""A key or an address written with JSON ``\\u`` escapes (``"AKIA…\\u0031X"``) is the same key
or address: the key filter, the source-IP filter and the IP pivot find its records in either
engine, whether the file is one the byte prefilter reads (compact) or one parsed whole
(catalogue: docs/hostile-inputs.md, section "CloudTrail log files")."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from tests.campaign_case import OTHER_KEY, TRAIL_DAY, other_principal_records
from torinvest.cli import main
from torinvest.events import EngineOptions
from torinvest.pivot import LOOKED, load_ip_pivot
from torinvest.sources.logs import load_logs
from torinvest.sources.logs.prefilter import escapes_may_hide

IP = "185.220.101.34"


def _escape(text: str, value: str) -> str:
    """``text`` with the JSON string ``value`` written with its last-but-one character as a
    ``\\u`` escape (``"AKIA…\\u0031X"``), as any JSON writer may."""
    escaped = f"{value[:-2]}\\u{ord(value[-2]):04x}{value[-1]}"
    return text.replace(f'"{value}"', f'"{escaped}"')


def _escaped_trail(tmp_path: Path, compact: bool) -> Path:
    """The other principal's four calls (three from :data:`IP`), key and address escaped."""
    body = json.dumps(
        {"Records": other_principal_records()}, separators=(",", ":") if compact else None
    )
    body = _escape(_escape(body, OTHER_KEY), IP)
    assert OTHER_KEY not in body and f'"{IP}"' not in body
    day = tmp_path / "cloudtrail" / TRAIL_DAY
    day.mkdir(parents=True)
    (day / "x_CloudTrail_us-east-1_20230710T1226Z_f.json.gz").write_bytes(
        gzip.compress(body.encode())
    )
    return tmp_path / "cloudtrail"


def _events(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(["events", *argv], out=out, err=err), out.getvalue(), err.getvalue()


COMPACT = pytest.mark.parametrize("compact", [True, False], ids=["prefiltered", "parsed-whole"])
ENGINES = pytest.mark.parametrize("engine", ["files", "duckdb"])


@COMPACT
@ENGINES
def test_events_of_a_key_written_with_escapes_are_found(
    tmp_path: Path, compact: bool, engine: str
) -> None:
    logs = _escaped_trail(tmp_path, compact)
    out_file = tmp_path / "events.jsonl"
    code, out, err = _events(
        "--logs", str(logs), "--access-key", OTHER_KEY, "--engine", engine, "--out", str(out_file)
    )
    assert code == 0, err
    assert out.startswith("4 events from 1 log file(s)")
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert {r["access_key_id"] for r in rows} == {OTHER_KEY}
    assert sorted(r["source_ip"] for r in rows).count(IP) == 3


@COMPACT
def test_the_source_ip_filter_finds_an_address_written_with_escapes(
    tmp_path: Path, compact: bool
) -> None:
    frame = load_logs(str(_escaped_trail(tmp_path, compact)), source_ips=[IP]).frame
    assert list(frame["source_ip"]) == [IP] * 3


@ENGINES
def test_the_ip_pivot_counts_an_address_written_with_escapes(tmp_path: Path, engine: str) -> None:
    logs = [str(_escaped_trail(tmp_path, compact=True))]
    pivot = load_ip_pivot(  # the trail's one region named: no other region is missing
        [IP], logs=logs, engine=EngineOptions(kind=engine), regions=["us-east-1"]
    )
    assert pivot.status == LOOKED
    (row,) = pivot.table.to_dict("records")
    assert (row["access_key_id"], row["calls"]) == (OTHER_KEY, 3)


def test_only_escapes_that_may_spell_a_key_or_an_address_turn_the_prefilter_off() -> None:
    """``\\u003d`` (``=``, as some writers escape it) and non-ASCII escapes leave the fast byte
    prefilter on; an escaped letter, digit, ``.`` or ``:`` turns it off."""
    assert not escapes_may_hide(b'{"a":"x\\u003dy\\u00e9\\u2028"}')
    assert not escapes_may_hide(b'{"a":"plain"}')
    for c in "A1z.:":
        assert escapes_may_hide(f'{{"a":"\\u{ord(c):04x}"}}'.encode())
