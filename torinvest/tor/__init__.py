"""Tor exit lists as timed observations: load, refresh, and "was this IP a Tor exit at time T".

An exit list says that an address was a Tor exit at some time. Every list read here becomes rows
of one frame, :attr:`ExitLists.observations`:

=============  =====================  ==========================================================
column         dtype                  meaning
=============  =====================  ==========================================================
``ip``         string                 exit address, normalized (IPv6 compressed, lower case;
                                      IPv4-mapped IPv6 as IPv4)
``first_seen`` datetime64[us, UTC]    start of the observation
``last_seen``  datetime64[us, UTC]    end of the observation (== ``first_seen`` for a point)
``list``       string                 the list it came from: ``<kind>:<name>`` (see below)
=============  =====================  ==========================================================

How each format becomes observations:

* TorDNSEL / CollecTor exit lists (``ExitNode`` / ``Published`` / ``LastStatus`` /
  ``ExitAddress IP TIME``, with or without the ``@type tordnsel 1.0`` header, such as a saved
  https://check.torproject.org/exit-addresses): parsed with ``stem``; each ``ExitAddress`` line is a
  point observation at its own time.
* plain IP lists (the bulk exit list https://check.torproject.org/torbulkexitlist, dan.me.uk
  daily lists): one address per line, ``#`` comments skipped. The date comes from a ``YYYY-MM-DD``
  in the file name or is given (``observed=``). A date alone means "listed at some moment of that
  UTC day" and becomes the interval [00:00, 24:00) of the day; a full timestamp is a point.
* interval files, CSV ``ip,first_seen_utc,last_seen_utc[,n_snapshots]``: each row is an
  observation throughout [first, last].
* ``.gz`` / ``.xz`` / ``.bz2`` files of any of these, folders of them (searched recursively), and
  tar archives such as CollecTor's monthly ``exit-list-YYYY-MM.tar.xz`` (read member by member,
  nothing extracted to disk; an (address, time) repeated by consecutive hourly lists is kept once).
  TorDNSEL members of archives go through a line parser that keeps exactly what stem keeps (the
  tests compare them on every bundled list): stem needs ~30 s for a month of hourly lists, the
  line parser ~1 s.
* PROVENANCE*, LICENSE*, README*, COPYING*, NOTICE*, ``INDEX.json``, ``*.md``, ``*.rst`` and
  hidden files are skipped. A file that cannot be read becomes a
  :class:`~torinvest.errors.DataIssue` naming it (in an archive: ``archive:member``); the other
  files still load.

Where lists come from (``kind``, the prefix of ``list``): ``bundled`` (real historical lists
shipped in ``torinvest/data/tor``, described by its ``INDEX.json``), ``case`` (paths passed in,
e.g. a case's ``tor/`` folder), ``cache`` (lists in a cache folder), ``refreshed`` (the list that
:func:`refresh` downloaded in this run). :attr:`ExitLists.sources` says which were used and what
time each covers, and what each names (``ListSource.names``): ``exit_addresses``, the addresses
exits' traffic was measured leaving from (TorDNSEL, CollecTor archives, the bulk exit list), or
``or_addresses``, relays by their OR address (dan.me.uk's lists, the bundled interval file; any
plain list not named ``torbulkexitlist``, any interval CSV: :func:`names_of`). An exit whose
traffic leaves from another address than its OR address is not in an OR-address list:
:func:`or_only` marks the rows whose "not Tor" no list of measured exit addresses backs.

:func:`tor_status` answers, for every row of an events frame, with the rule of the run report:

* ``True``  the row's ``source_ip`` has an observation within ``tolerance`` of its ``event_time``
  (for an interval: ``first - tolerance <= t <= last + tolerance``);
* ``False`` the lists rule Tor out at ``t`` for the address's family (:func:`coverage`) and no
  list names the address near it. An address that was an exit years before or after is
  ``False``. So is an AWS service calling on the principal's behalf (``AWS Internal``,
  ``iam.amazonaws.com``: never Tor), or a private or reserved address;
* ``NA``    the lists do not rule Tor out at ``t`` for that family, the source is not an address
  (``185.220.101.34:443``, ``3118228770``), or the row has no time or no source.

A list rules Tor out at ``t`` only where a positive match of every exit it names would hold at
``t`` too: the tolerance pads positive matches, never the span where Tor is ruled out. A
snapshot (a TorDNSEL list, a bulk or dan.me.uk list) rules it out from its oldest to its newest
observation, and only where every address it names has an observation within the tolerance
(a TorDNSEL list that tested some exits days before others: nowhere); an interval list on its
observations, an archive of snapshots from its oldest to its newest observation, both on the
UTC days on which it names enough exits. A list counts per address family: one that names
IPv4 exits only leaves IPv6 sources unknown.

A list vouches for the exit population only where it names at least :data:`MIN_EXITS` (300)
distinct addresses of a family: a single list (TorDNSEL, plain) in the file, an archive or
interval list on each UTC day (real exit lists name ~1,000–2,500 a day). Smaller lists — IOC
lists, a hand-made case list — are *partial*: they can make a row True, never False
(:meth:`ExitLists.partial_sources`, named by :meth:`ExitLists.describe`). So is a list cut short
(:func:`~torinvest.tor.parsers.cut_short`: ``ListSource.rules_out`` False), whatever its size,
and so is a single list (TorDNSEL, plain) cut exactly at the end of a line, which nothing in
the file shows: one that names fewer than :data:`SHORT_SHARE` (60 %) of the IPv4 exits of the
single list nearest it in time (:func:`short_lists`, applied by :func:`load_exit_lists`;
``ListSource.short_of`` names that list; real lists never drop that far, see the constant).

Observations dated after the time of loading (plus :data:`~torinvest.tor.lists.FUTURE_MARGIN`)
are not used: a data issue names the file.

The check is a sorted merge (``pandas.merge_asof`` by address, then ``numpy.searchsorted`` on
the merged coverage), not a loop over rows.

The package, each module importing only those above it:

    records  ListSource, ExitLists (the observations frame), RefreshResult; addresses, times;
             the times the lists cover (coverage)
    parsers  one list's bytes → observations (TorDNSEL, plain lists, intervals)
    lists    files, folders, archives, the bundled history, the cache → load_exit_lists
    status   tor_status: listed within the tolerance of each event's time, or unknown (and
             why: unknown_reasons, unknown_issues); or_only: "not Tor" by OR-address lists only
             (caveats, marked: the tor_caveat of rows, records; status_label: in words)
    refresh  download the current list or a month's archive into the cache

``__all__`` lists the public names; the private ones tests use are importable from
``torinvest.tor`` too.
"""

from torinvest.tor.lists import (
    BUNDLED_PACKAGE_DIR,
    bundled_dir,
    bundled_index,
    list_files,
    load_exit_lists,
    read_exit_list,
)
from torinvest.tor.parsers import (
    TORDNSEL_TYPE,
    parse_intervals,
    parse_plain_list,
    parse_tordnsel,
    skipped_lines_problem,
)
from torinvest.tor.parsers import _exit_address_pairs as _exit_address_pairs
from torinvest.tor.parsers import _pairs_frame as _pairs_frame
from torinvest.tor.records import (
    DEFAULT_TOLERANCE,
    EXIT_OBSERVATIONS_COLUMNS,
    MIN_EXITS,
    SHORT_SHARE,
    ExitListError,
    ExitLists,
    ListFormat,
    ListKind,
    ListNames,
    ListSource,
    RefreshResult,
    coverage,
    names_of,
    normalize_ip,
    short_lists,
)
from torinvest.tor.records import _utc_from_us as _utc_from_us
from torinvest.tor.refresh import (
    COLLECTOR_ARCHIVE_URL,
    DOWNLOAD_TIMEOUT,
    EXIT_ADDRESSES_URL,
    Opener,
    refresh,
)
from torinvest.tor.status import (
    NEVER_EXIT_KINDS,
    OR_ONLY_CAVEAT,
    OR_ONLY_LABEL,
    OR_ONLY_TEXT,
    OR_ONLY_WORDS,
    UNKNOWN_REASONS,
    cannot_be_exit,
    caveats,
    finding_ip_contradiction,
    ip_status,
    marked,
    or_only,
    or_only_note,
    status_label,
    tor_status,
    unknown_issues,
    unknown_reasons,
)

__all__ = [
    "BUNDLED_PACKAGE_DIR",
    "COLLECTOR_ARCHIVE_URL",
    "DEFAULT_TOLERANCE",
    "DOWNLOAD_TIMEOUT",
    "EXIT_ADDRESSES_URL",
    "EXIT_OBSERVATIONS_COLUMNS",
    "MIN_EXITS",
    "NEVER_EXIT_KINDS",
    "OR_ONLY_CAVEAT",
    "OR_ONLY_LABEL",
    "OR_ONLY_TEXT",
    "OR_ONLY_WORDS",
    "SHORT_SHARE",
    "TORDNSEL_TYPE",
    "UNKNOWN_REASONS",
    "ExitListError",
    "ExitLists",
    "ListFormat",
    "ListKind",
    "ListNames",
    "ListSource",
    "Opener",
    "RefreshResult",
    "bundled_dir",
    "bundled_index",
    "cannot_be_exit",
    "caveats",
    "coverage",
    "finding_ip_contradiction",
    "ip_status",
    "list_files",
    "load_exit_lists",
    "marked",
    "names_of",
    "normalize_ip",
    "or_only",
    "or_only_note",
    "parse_intervals",
    "parse_plain_list",
    "parse_tordnsel",
    "read_exit_list",
    "refresh",
    "short_lists",
    "skipped_lines_problem",
    "status_label",
    "tor_status",
    "unknown_issues",
    "unknown_reasons",
]
