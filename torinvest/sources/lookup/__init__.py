"""CloudTrail LookupEvents: a key's management events in every region, at the documented rate.

LookupEvents answers one region at a time, with one lookup attribute per call, 50 events a page,
and at most 2 requests per second per account per region. This module:

* paces each (account, region) to that limit with a shared :class:`Pacer`, regions concurrently;
* handles ``ThrottlingException`` (and transient 5xx/connection errors) itself, backing off and
  resuming from the same ``NextToken`` — the client is built with botocore retries off for this
  one API so that the pacing stays exact;
* reports a region that fails (access denied, opt-in region disabled, endpoint error) as a
  :class:`~torinvest.errors.DataIssue`, keeping the pages it already had and saying the region is
  incomplete — never silently empty;
* caches pulled pages as parquet keyed by account/region/attribute, with the time intervals they
  cover, so a re-run or a wider window pulls only what it has not pulled before.

Fetch (:func:`fetch_pages`, talks to AWS) is separate from normalize
(:func:`torinvest.sources.records.normalize_records`, pure), which returns the events frame.

The package, one module per step (imports go down this list): :mod:`.pacer` (the rate per
account and region), :mod:`.fetch` (a query's pages, retries and back-off), :mod:`.cache`
(pages as parquet, the intervals they cover), :mod:`.pull` (one region, every region,
:func:`lookup_events`). This module re-exports every public name it had as one module (and the
private one tests reach for, ``_PACERS``: the same dict, so clearing it clears the pacers).
"""

from torinvest.sources.lookup.cache import PageCache, default_cache_dir
from torinvest.sources.lookup.fetch import (
    ATTRIBUTES,
    BACKOFF_BASE,
    BACKOFF_CAP,
    MAX_PAGES,
    MAX_RETRIES,
    OP,
    PAGE_SIZE,
    EndlessPaging,
    IncompleteRegion,
    Query,
    fetch_pages,
    lookup_client,
)
from torinvest.sources.lookup.pacer import _PACERS as _PACERS
from torinvest.sources.lookup.pacer import LOOKUP_RATE_PER_REGION, Pacer, Slot, pacer_for
from torinvest.sources.lookup.pull import (
    DELIVERY_MARGIN,
    GLOBAL_EVENTS_REGION,
    RETENTION,
    LookupResult,
    RegionPull,
    clamp_window,
    lookup_events,
    lookup_regions,
    pull_region,
)

__all__ = [
    "ATTRIBUTES",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DELIVERY_MARGIN",
    "GLOBAL_EVENTS_REGION",
    "LOOKUP_RATE_PER_REGION",
    "MAX_PAGES",
    "MAX_RETRIES",
    "OP",
    "PAGE_SIZE",
    "RETENTION",
    "EndlessPaging",
    "IncompleteRegion",
    "LookupResult",
    "Pacer",
    "PageCache",
    "Query",
    "RegionPull",
    "Slot",
    "clamp_window",
    "default_cache_dir",
    "fetch_pages",
    "lookup_client",
    "lookup_events",
    "lookup_regions",
    "pacer_for",
    "pull_region",
]
