"""`torinvest investigate --geoip PATH`: a MaxMind-format ASN database generated in the test is
read through the notebook (one papermill run) into per_ip.csv, summary.json and the report; a
bad database is refused before any kernel starts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.cli_run import run
from tests.mmdb import asn_database
from torinvest import report
from torinvest.case import sample_case

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"


def test_investigate_reads_the_asn_database(tmp_path: Path) -> None:
    db = asn_database(tmp_path / "GeoLite2-ASN.mmdb")
    out = tmp_path / "report"
    code, _, err = run(
        "investigate", FINDING, "--case", str(sample_case().root), "--geoip", str(db),
        "--out", str(out), "--ledger", str(tmp_path / "ledger.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    data = report.check_summary(out / "summary.json")
    by_ip = {i["ip"]: i for i in data["source_ips"]}
    assert by_ip["185.220.101.34"]["asn"] == "64498"
    assert by_ip["185.220.101.34"]["asn_org"] == "Example Tor Relays e.V."
    assert by_ip["185.220.101.34"]["country"] == "DE"
    assert by_ip["167.99.201.43"]["asn_source"] == "geoip"
    assert all(i["country"] for i in data["source_ips"] if i["ip_kind"] == "public")
    assert any(s.startswith("geo: ASN: GeoLite2-ASN") for s in data["generated"]["sources"])
    with (out / "per_ip.csv").open(newline="") as f:
        rows = {r["source_ip"]: r for r in csv.DictReader(f)}
    assert rows["167.99.201.43"]["asn_org"] == "Example VPS <b>Hosting</b>"
    assert rows["167.99.201.43"]["country"] == "US"
    html = (out / "report.html").read_text()
    assert "GeoLite2-ASN" in html and "64497" in html
    assert "Example VPS <b>Hosting</b>" not in html  # an organization name is text


@pytest.mark.parametrize(
    ("command", "never_written"),
    [("investigate", "out/report.ipynb"), ("notebook", "out")],
)
def test_a_bad_geoip_database_is_refused_before_any_kernel_or_copy(
    tmp_path: Path, command: str, never_written: str
) -> None:
    """`investigate` and `notebook` name a database that cannot be read before a kernel starts
    or a working copy is written (a copy would only fail when run in JupyterLab)."""
    bad = tmp_path / "GeoLite2-ASN.mmdb"
    bad.write_text("not a database")
    code, _, err = run(
        command, FINDING, "--case", str(sample_case().root), "--geoip", str(bad),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    (line,) = [x for x in err.splitlines() if x.startswith("torinvest: error:")]
    assert f"MaxMind database {bad} cannot be read" in line
    assert not (tmp_path / never_written).exists()
