"""When each log file was written, against the time in its name: files put in a trail's folder,
or rewritten there, after CloudTrail delivered the rest.

AWS documents the time in a log file's name (``…_CloudTrail_<region>_YYYYMMDDTHHmmZ_<id>…``) as
the minute CloudTrail delivered the file, and CloudTrail writes it to the bucket then: the
object's ``LastModified`` (S3's own write time, which ListObjectsV2 already returns — no extra
call) is within a minute or two of it. Whoever puts a file in the bucket chooses its name, not
its ``LastModified``: a file written more than :data:`LATE_WRITE` after (or before) the time in
its name was put there, or rewritten, since — or copied in from elsewhere. Locally the listing's
``stat`` gives each file's modification time, which ``aws s3 cp``/``sync`` set to the object's
``LastModified`` and which anyone can set: the same check, as a weaker sign (the message says so).

Judged per trail (a ``…/CloudTrail/`` folder, or the folder of files outside the dated layout),
from the files read: when the median file was written more than :data:`LATE_WRITE` after its
name, (nearly) every file was written late — the folder is a copy (``aws s3 sync``/``cp``,
``CopyObject``, replication: each object gets a new ``LastModified``) or was rewritten whole,
and its write times are the copy's: no issue; on S3 one note (an aside) says so. A local
folder copied so is said nothing of: its modification times are the copy's whenever it was
made other than with ``aws s3 sync``/``cp`` (a download, an archive, a checkout) — the usual
case folder, where a note on every reading would crowd out the notes that matter; the README
says the check needs a folder those commands made. Otherwise the files written
more than :data:`LATE_WRITE` from their name's time are one issue per region folder naming a few
(their name time and write time) and counting the rest: their events were read and cannot be
trusted. A file the trail's digest files vouch for (named with the hash its content is compared
with when read) is not named, nor one already called unvouched by them (the sharper issue,
:func:`~torinvest.sources.logs.digests.unvouched`): one message per file.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from torinvest.errors import DataIssue
from torinvest.sources.logs.coverage import dated_place, day_ranges, name_time
from torinvest.sources.logs.model import LogFile

#: How far a file's write time may be from the time in its name before it is said. CloudTrail
#: names a file for the minute it delivers it (its ``LastModified`` is within a minute or two
#: of that); an hour is far past any delivery jitter and past the 15 minutes the digests allow
#: (:data:`~torinvest.sources.logs.digests.DELIVERY_LAG`), yet short of the hours or days
#: after the events at which a file is planted or rewritten to cover them (a file rewritten
#: within the hour is not seen: the digests' hashes are what catch that).
LATE_WRITE = timedelta(hours=1)
#: At most this many files named in one issue (the rest counted).
MAX_SHOWN = 3
#: A file's name is quoted up to this many characters.
MAX_NAME = 200
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class Written:
    """A log file read whose name has a time and whose write time is known: its location, the
    trail it is judged with (``trail``), the folder an issue names (``place``), its name as
    shown (below the region folder), the time in its name and when it was written."""

    location: str
    trail: str
    place: str
    shown: str
    named: datetime
    written: datetime

    @property
    def delay(self) -> timedelta:
        return self.written - self.named


def _written(f: LogFile, places: dict[str, tuple[str, str]]) -> Written | None:
    """What :class:`Written` says of ``f``; None when its name has no time or its write time is
    not known. ``places``: the (trail, region folder) of each folder seen, by folder (the files
    of a day folder share them: worked out once)."""
    if f.written is None:
        return None
    loc = f.location.replace("\\", "/")
    folder_of, _, name = loc.rpartition("/")
    named = name_time(name)
    if named is None:
        return None
    if folder_of not in places:
        place = dated_place(loc)
        if place is not None:
            places[folder_of] = (place[0], f"{place[0]}{place[1]}/")
        else:
            head = f.location[: len(f.location) - len(name)] or "."
            places[folder_of] = (head, head)
    trail, where = places[folder_of]
    shown = loc[len(where) :] if loc.startswith(where) else name
    if len(shown) > MAX_NAME:  # a name in the folder: bounded
        shown = shown[:MAX_NAME] + "…"
    return Written(f.location, trail, where, shown, named, f.written)


def write_issues(
    files: Iterable[LogFile],
    *,
    vouched: Collection[str] = (),
    unvouched: Collection[tuple[str, str, str]] = (),
    asides: list[str] | None = None,
) -> list[DataIssue]:
    """The issues of log files (``files``: those read) written more than :data:`LATE_WRITE`
    from the time in their name, one per region folder, in trails most of whose files were
    written on time; a trail whose median file was written late is a copy: one note in
    ``asides``. ``vouched``: the locations the trail's digests give a hash for; ``unvouched``:
    the files the digests already called unvouched ((``…/CloudTrail/`` folder, region, name)):
    neither is named here."""
    trails: dict[str, list[Written]] = {}
    local: dict[str, bool] = {}
    places: dict[str, tuple[str, str]] = {}
    for f in files:
        w = _written(f, places)
        if w is not None:
            trails.setdefault(w.trail, []).append(w)
            local[w.trail] = f.bucket is None
    out: list[DataIssue] = []
    flat = {name for _folder, _region, name in unvouched}  # outside the dated layout: by name
    for trail, found in sorted(trails.items()):
        late = statistics.median(w.delay for w in found)
        if late > LATE_WRITE:  # a copy: its write times prove nothing
            if asides is not None and not local[trail]:
                asides.append(_copy_note(trail, found, late))
            continue
        off: dict[str, list[Written]] = {}
        for w in found:
            if abs(w.delay) <= LATE_WRITE or w.location in vouched:
                continue
            place = dated_place(w.location.replace("\\", "/"))
            name = w.location.replace("\\", "/").rpartition("/")[2]
            if (place[0], place[1], name) in unvouched if place is not None else name in flat:
                continue  # the digests' sharper issue names it (a flat folder's: by its name)
            off.setdefault(w.place, []).append(w)
        for place, odd in sorted(off.items()):
            out.append(DataIssue(place, _late_problem(odd, len(found), local[trail])))
    return out


def duration(span: timedelta) -> str:
    """``3.5 h``, ``12 days`` (a span said in a few words)."""
    hours = abs(span).total_seconds() / 3600
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:,.0f} days"


def _example(w: Written) -> str:
    side = "after" if w.delay > timedelta(0) else "before"
    return (
        f"{w.shown} named {w.named:%Y-%m-%dT%H:%MZ}, written {w.written:{_STAMP}}: "
        f"{duration(w.delay)} {side}"
    )


def _late_problem(odd: list[Written], read: int, local: bool) -> str:
    """Log files of one region folder written long after (or before) the time in their name."""
    odd = sorted(odd, key=lambda w: (-abs(w.delay), w.shown))
    shown = "; ".join(_example(w) for w in odd[:MAX_SHOWN])
    more = len(odd) - MAX_SHOWN
    if more > 0:
        shown += f"; and {more:,} more"
    early = sum(w.delay < timedelta(0) for w in odd)
    side = "before" if early == len(odd) else "after" if not early else "after or before"
    days = day_ranges({w.named.date() for w in odd})
    where = "here" if local else "to the bucket"
    text = (
        f"{len(odd):,} log file(s) here on {days} were written {where} more than "
        f"{duration(LATE_WRITE)} {side} the time in their name ({shown}), while most of the "
        f"trail's {read:,} file(s) read were written within it: CloudTrail writes a "
        "log file in the minute its name gives, so these were put here or rewritten since "
        "(their events may be forged), or copied in from elsewhere; their events were read "
        "and cannot be trusted: compare them with the trail's digest files or the source "
        "bucket (or LookupEvents, --lookup) before relying on them"
    )
    if local:
        text += f" ({_LOCAL})"
    return text


#: What a local file's write time is worth.
_LOCAL = (
    "the write times are the files' modification times here: aws s3 cp and sync set them to "
    "S3's LastModified, but anyone can set them, so this is a weaker sign than S3's own"
)


def _copy_note(trail: str, found: list[Written], late: timedelta) -> str:
    """A trail on S3 whose files were (nearly) all written long after the times in their names."""
    first = f"{min(w.written for w in found):{_STAMP}}"
    last = f"{max(w.written for w in found):{_STAMP}}"
    span = first if first == last else f"{first} to {last}"
    return (
        f"{trail}: its log files were written long after the times in their names (the median "
        f"of {len(found):,} file(s) read: {duration(late)} later; written {span}): the folder "
        "is a copy (aws s3 sync or cp, CopyObject, replication) or was rewritten whole, so its "
        "S3 write times (LastModified) are the copy's and cannot show files put here or "
        "rewritten since — compare with the trail's digest files or the source bucket"
    )
