"""What the analysis tests share: the sample case's STORY.json (the ground truth), the ``tor``
column built from its exit-list facts (which IPs each daily list holds), as torinvest.tor would
compute it, and synthetic frames.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from torinvest.case import sample_case
from torinvest.schema import EVENTS_COLUMNS, conform

CASE = sample_case()
STORY = json.loads((CASE.root / "STORY.json").read_text())
SUSPECT = STORY["suspect_key"]["access_key_id"]
DERIVED = STORY["derived"]["asia_key"]
LEGIT_IP = STORY["legit_ip"]
TOR_IPS = set(STORY["tor_ips"])


def tor_from_story(frame: pd.DataFrame) -> pd.Series:
    """The ``tor`` column as torinvest.tor computes it, from STORY.json's daily exit lists."""
    day = frame["event_time"].dt.strftime("%Y-%m-%d")
    covered = day.isin(list(STORY["tor_lists"])).to_numpy()
    listed = np.array(
        [
            d in STORY["tor_ips_listed"].get(str(ip), [])
            for ip, d in zip(frame["source_ip"], day, strict=True)
        ],
        dtype=bool,
    )
    return pd.Series(pd.array(np.where(covered, listed, None), dtype="boolean"), index=frame.index)


def synthetic_events(n: int, *, seed: int = 0, ips: int = 2000, agents: int = 3000) -> pd.DataFrame:
    """An events frame of ``n`` random calls over 90 days, built with numpy in well under a second.

    Agent 0 is the XSS bait ``<img src=x onerror=alert(1)>``; 20 % of the IPs are Tor.
    """
    rng = np.random.default_rng(seed)

    def cat(labels: list[str], codes: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="string"))

    def pick(labels: list[str]) -> pd.Categorical:
        return cat(labels, rng.integers(0, len(labels), n))

    ip_labels = [f"{10 + i // 65536}.{i // 256 % 256}.{i % 256}.{1 + i % 200}" for i in range(ips)]
    names = [
        f"{verb}{noun}"
        for verb in ("List", "Describe", "Get", "Put", "Delete")
        for noun in ("Users", "Roles", "Buckets", "Instances", "Secrets", "Policies", "Trails")
    ] + ["CreateUser", "CreateAccessKey", "AttachUserPolicy", "StopLogging", "GetSecretValue"]
    agent_labels = ["<img src=x onerror=alert(1)>"] + [
        f"aws-cli/2.{i % 20}.{i % 7} Python/3.11 Linux/6.1 command/{i} " + "x" * (i % 300)
        for i in range(1, agents)
    ]
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    micros = np.sort(rng.integers(0, 90 * 86_400 * 1_000_000, n)) + start
    errors = np.where(rng.random(n) < 0.1, rng.integers(0, 3, n), -1)
    ip_codes = rng.integers(0, ips, n)
    tor_ip = rng.random(ips) < 0.2
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime(micros, unit="us", utc=True),
            "event_id": pd.array(np.arange(n).astype(str), dtype="string"),
            "event_name": pick(names),
            "event_source": pick(["iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"]),
            "aws_region": pick(["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"]),
            "source_ip": cat(ip_labels, ip_codes),
            "user_agent": pick(agent_labels),
            "error_code": cat(
                ["AccessDenied", "Client.UnauthorizedOperation", "Throttling"], errors
            ),
            "read_only": pd.array(rng.random(n) < 0.7, dtype="boolean"),
            "access_key_id": pick([f"AKIA{i:016d}" for i in range(20)]),
            "user_name": pick(["alice", "bob"]),
            "derived": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "tor": pd.array(tor_ip[ip_codes], dtype="boolean"),
        }
    )


def make_events(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A small events frame from row dicts (defaults for what a row leaves out)."""
    base = {
        "event_source": "iam.amazonaws.com",
        "aws_region": "us-east-1",
        "user_agent": "aws-cli/2",
        "access_key_id": SUSPECT,
    }
    return conform([{**base, **r} for r in rows], EVENTS_COLUMNS)


def expected_by_ip() -> dict[str, dict[str, Any]]:
    """STORY.json's events_by_ip for the keys the load covers, merged per IP."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"events": 0, "failed": 0, "user_agents": set(), "regions": set(), "keys": set()}
    )
    for row in STORY["events_by_ip"]:
        if row["access_key_id"] not in (SUSPECT, DERIVED, *STORY["created_keys"]):
            continue  # the suspect key, the key it minted and the key it created are loaded
        e = out[row["ip"]]
        e["events"] += row["events"]
        e["failed"] += row["failed"]
        e["tor"] = row["tor"]
        e["user_agents"] |= set(row["user_agents"])
        e["regions"] |= set(row["regions"])
        e["keys"].add(row["access_key_id"])
        e["first_seen"] = min(e.get("first_seen", row["first_seen"]), row["first_seen"])
        e["last_seen"] = max(e.get("last_seen", row["last_seen"]), row["last_seen"])
    return dict(out)
