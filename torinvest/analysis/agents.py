"""Known attack tools among the user agents (:func:`attack_tool_signals`): the calls whose user
agent carries a pattern of the attack-tools table (:mod:`torinvest.attack_tools`), per tool, with
their IPs and keys. The user agent is attacker-written: its absence proves nothing (any client
can send any user agent), its presence is shown cut and escaped (:func:`.helpers._short`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from torinvest.addresses import canonical_column
from torinvest.analysis.helpers import DETAIL_ITEMS, _bools, _listing, _short
from torinvest.analysis.places import Observation
from torinvest.attack_tools import AttackTool, match_agents
from torinvest.grouping import codes_and_labels, tor_column

#: The signal's name (its weight: the heaviest tool found, from the table).
ATTACK_TOOL_SIGNAL = "attack_tool"


def attack_tool_signals(
    frame: pd.DataFrame, tools: Sequence[AttackTool] | None = None
) -> list[Observation]:
    """``attack_tool``: one signal naming every tool found — per tool its kind, calls, IPs
    (Tor marked), keys and a user agent that matched — weighing as the heaviest tool.

    ``frame``: the events frame, or a per-user-agent counts frame (``calls`` per source IP and
    user agent; :class:`torinvest.sources.sql.Aggregates` ``by_agent`` with its ``tor``)."""
    if frame.empty or "user_agent" not in frame.columns:
        return []
    codes, labels = codes_and_labels(frame["user_agent"])
    hits = match_agents(labels.tolist(), tools)
    if not hits:
        return []
    weight = (
        frame["calls"].fillna(0).to_numpy(dtype=np.int64)
        if "calls" in frame.columns
        else np.ones(len(frame), dtype=np.int64)
    )
    tor = _bools(tor_column(frame))
    ips = canonical_column(frame["source_ip"]).fillna("(no IP)").to_numpy(dtype=object)
    keys = (
        frame["access_key_id"].astype("string").to_numpy(dtype=object, na_value=None)
        if "access_key_id" in frame.columns
        else np.full(len(frame), None, dtype=object)
    )
    by_tool: dict[str, tuple[AttackTool, list[str]]] = {}
    for agent, found in hits.items():
        for tool in found:
            by_tool.setdefault(tool.tool, (tool, []))[1].append(agent)
    items: list[str] = []
    heaviest = 0
    code_of = {str(label): i for i, label in enumerate(labels)}
    for tool, agents in sorted(by_tool.values(), key=lambda x: (-x[0].weight, x[0].tool)):
        mask = np.isin(codes, [code_of[a] for a in agents])
        calls = int(weight[mask].sum())
        tor_ips = set(ips[mask & tor].tolist())
        ip_list = sorted({f"{ip} (Tor)" if ip in tor_ips else str(ip) for ip in ips[mask]})
        key_list = sorted({str(k) for k in keys[mask] if k is not None})
        heaviest = max(heaviest, tool.weight)
        items.append(
            f"{tool.tool} ({tool.kind}): {calls} call(s) from {_listing(ip_list, 3)}"
            + (f" with {_listing(key_list, 3)}" if key_list else "")
            + f", user agent “{_short(sorted(agents)[0])}”"
        )
    return [
        Observation(
            ATTACK_TOOL_SIGNAL,
            f"user agents of known attack tools: {_listing(items, DETAIL_ITEMS)}",
            heaviest,
        )
    ]
