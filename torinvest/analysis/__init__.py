"""What the key did, made readable: per-IP table, baseline, sensitive actions, signals, score.

Every function here is pure: it takes the events frame (:data:`torinvest.schema.EVENTS_COLUMNS`)
and returns a frame or plain objects; nothing reads AWS. The Tor status of each row is an input:
a nullable boolean column ``tor`` (True = a listed exit near that time, False = the loaded lists
cover that time and do not list the IP, NA = no list covers it), as
:func:`torinvest.tor.tor_status` computes it. Without that column every row's status is NA.

The work is grouped on integer codes of the categorical columns: a million events take a few
seconds (per_ip about one, signals two or three). An empty events frame gives empty results.

Texts in :class:`Signal` details can contain attacker-written values (user agents, event names
from files): render them through :func:`torinvest.safety.html_text` in HTML or Markdown.

The package, one module per step (imports go down this list): :mod:`.helpers` (shared over the
events frame), :mod:`.baseline`, :mod:`.places` (each IP's kind, country, ASN; the geography
signals), :mod:`.agents` (known attack tools' user agents), :mod:`.per_ip`, :mod:`.sensitive`,
:mod:`.signals`,
:mod:`.score`, :mod:`.summary`. The catalogue is loaded by :mod:`torinvest.catalogue`, MaxMind
databases read by :mod:`torinvest.geo`, the per-IP and sensitive frames' columns are in
:mod:`torinvest.schema`, codes, labels and time buckets in :mod:`torinvest.grouping`. This
module re-exports every name it had as one module, so ``from torinvest import analysis`` and
``analysis.per_ip(...)`` keep working.
"""

from torinvest.analysis.agents import ATTACK_TOOL_SIGNAL, attack_tool_signals
from torinvest.analysis.baseline import BASELINE_COLUMNS, BASELINE_KINDS, Baseline, baseline
from torinvest.analysis.helpers import DETAIL_ITEMS, DETAIL_TEXT_CHARS, window_of
from torinvest.analysis.per_ip import ip_tor_status, per_ip, per_ip_counted
from torinvest.analysis.places import (
    GEO_WEIGHTS,
    PLACE_COLUMNS,
    TRAVEL_MIN_COUNTRIES,
    TRAVEL_WINDOW,
    GeoProvenance,
    geo_provenance,
    geo_signals,
    place_ips,
)
from torinvest.analysis.score import (
    INCOMPLETE,
    INCOMPLETE_SIGNAL,
    MAX_SCORE,
    NO_BASELINE,
    NOT_A_VERDICT,
    NOT_LOOKED_SIGNAL,
    NOT_SCORED,
    SCORE_BANDS,
    TOP_REASONS,
    TriageScore,
    triage_score,
)
from torinvest.analysis.sensitive import sensitive_events
from torinvest.analysis.signals import (
    ABSENT_PATTERN,
    BASELINE_WEIGHTS,
    CONCURRENT_WINDOW,
    DENIED_PATTERN,
    FAILED_ONLY_FACTOR,
    NEW_SIGNALS,
    NO_BASELINE_SIGNAL,
    PARTIAL_BASELINE_SIGNAL,
    RECON_MIN_CALLS,
    RECON_MIN_DENIED,
    RECON_MIN_DISTINCT_CALLS,
    RECON_MIN_REGIONS,
    RECON_MIN_SERVICES,
    RECON_PREFIXES,
    RECON_WINDOW,
    SENSITIVE_WEIGHTS,
    WEIGHTS,
    Signal,
    no_baseline_signal,
    qualify_new,
    signals,
)
from torinvest.analysis.summary import (
    SOURCE_IPS_ORDER,
    busiest_first,
    listed_sensitive_events,
    listed_source_ips,
    source_ips_list,
    summary_sensitive_events,
    summary_source_ips,
)
from torinvest.catalogue import CATALOGUE_COLUMNS, CATALOGUE_FILE, CATEGORIES, load_catalogue
from torinvest.geo import IP_KINDS, GeoInput, GeoIP, GeoLookup
from torinvest.grouping import codes_and_labels, label_rank, tor_column
from torinvest.schema import (
    MAX_LIST_ITEMS,
    PER_IP_COLUMNS,
    PER_IP_LIST_COUNTS,
    SENSITIVE_COLUMNS,
    SENSITIVE_TARGET_COLUMNS,
    TOP_EVENT_NAMES,
    empty_per_ip,
)

__all__ = [
    "ABSENT_PATTERN",
    "ATTACK_TOOL_SIGNAL",
    "BASELINE_COLUMNS",
    "BASELINE_KINDS",
    "BASELINE_WEIGHTS",
    "CATALOGUE_COLUMNS",
    "CATALOGUE_FILE",
    "CATEGORIES",
    "CONCURRENT_WINDOW",
    "DENIED_PATTERN",
    "DETAIL_ITEMS",
    "DETAIL_TEXT_CHARS",
    "FAILED_ONLY_FACTOR",
    "GEO_WEIGHTS",
    "INCOMPLETE",
    "INCOMPLETE_SIGNAL",
    "IP_KINDS",
    "MAX_LIST_ITEMS",
    "MAX_SCORE",
    "NEW_SIGNALS",
    "NOT_A_VERDICT",
    "NOT_LOOKED_SIGNAL",
    "NOT_SCORED",
    "NO_BASELINE",
    "NO_BASELINE_SIGNAL",
    "PARTIAL_BASELINE_SIGNAL",
    "PER_IP_COLUMNS",
    "PER_IP_LIST_COUNTS",
    "PLACE_COLUMNS",
    "RECON_MIN_CALLS",
    "RECON_MIN_DENIED",
    "RECON_MIN_DISTINCT_CALLS",
    "RECON_MIN_REGIONS",
    "RECON_MIN_SERVICES",
    "RECON_PREFIXES",
    "RECON_WINDOW",
    "SCORE_BANDS",
    "SENSITIVE_COLUMNS",
    "SENSITIVE_TARGET_COLUMNS",
    "SENSITIVE_WEIGHTS",
    "SOURCE_IPS_ORDER",
    "TOP_EVENT_NAMES",
    "TOP_REASONS",
    "TRAVEL_MIN_COUNTRIES",
    "TRAVEL_WINDOW",
    "WEIGHTS",
    "Baseline",
    "GeoIP",
    "GeoInput",
    "GeoLookup",
    "GeoProvenance",
    "Signal",
    "TriageScore",
    "attack_tool_signals",
    "baseline",
    "busiest_first",
    "codes_and_labels",
    "empty_per_ip",
    "geo_provenance",
    "geo_signals",
    "ip_tor_status",
    "label_rank",
    "listed_sensitive_events",
    "listed_source_ips",
    "load_catalogue",
    "no_baseline_signal",
    "per_ip",
    "per_ip_counted",
    "place_ips",
    "qualify_new",
    "sensitive_events",
    "signals",
    "source_ips_list",
    "summary_sensitive_events",
    "summary_source_ips",
    "tor_column",
    "triage_score",
    "window_of",
]
