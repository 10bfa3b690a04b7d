"""The "no folder" issue of a local trail copy read for every region, offline (no --regions,
no AWS access): the regions enabled in every account of the ``aws`` partition
(:data:`torinvest.aws.DEFAULT_REGIONS`) that the account's trail folder has no folder for.

Tests whose reading is that unnarrowed one assert this issue explicitly (its text naming the
regions missing); tests of something else name their trail's regions instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from torinvest.aws import DEFAULT_REGIONS

#: The sample case's trail folders (torinvest/data/sample_case/cloudtrail/…/CloudTrail/).
SAMPLE_REGIONS = ("ap-southeast-1", "eu-west-1", "us-east-1")


def offline_unfolded(present: Iterable[str] = SAMPLE_REGIONS, *, windowed: bool = True) -> str:
    """The issue's problem for a trail folder holding the ``present`` regions only (two or more
    of the partition's regions missing), read over a window (``windowed``) or with none."""
    missing = sorted(set(DEFAULT_REGIONS["aws"]) - set(present))
    assert len(missing) > 1, missing  # the plural wording
    return (
        f"no folder for region(s) {', '.join(missing)}: no log file of those regions here at "
        "all, so its events, if any, were not read; they are enabled for the account (the "
        "regions enabled in every account of the aws partition; whether the account enabled "
        "an opt-in region is not known offline) and were not asked with --regions: the trail "
        "does not log them (a single-region trail, or one that leaves them out), or nothing was "
        f"logged there {'in the window' if windowed else 'at all'}, or their files are not "
        "here, and no digest folder "
        "(CloudTrail-Digest/) shows them logged; read those regions' log files from the trail "
        "that records them, or LookupEvents (--lookup), or name the key's regions with --regions"
    )
