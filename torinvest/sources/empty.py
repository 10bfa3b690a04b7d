"""What a source that gave nothing to read says, in words :func:`torinvest.events.is_empty_source`
knows: "could not look there", never "no events". A module of its own, importing nothing, so
that a run that reads no log file (``events --lookup``) imports neither the log files' reader
(:mod:`torinvest.sources.logs`, which says the first three) nor the SQL engines
(:mod:`torinvest.sources.sql.engine`, which says the last) to tell them.
"""

#: What a source holding no log file at all says (S3 prefix, local folder).
NO_LOGS_S3 = "no CloudTrail log files under this prefix (check the prefix)"
NO_LOGS_LOCAL = (
    "no CloudTrail log files in this folder (check the path; log files end in .json.gz, "
    ".json, .jsonl or .ndjson)"
)
#: What a source whose log files were all left out by the window/region narrowing says.
NO_MATCH = "no log file matched the window/region narrowing"

#: How an engine whose queries matched no event and read no byte says so (Athena's
#: DataScannedInBytes 0: its table holds nothing where it was asked to look): "could not look",
#: never "no events" (:func:`torinvest.events.is_empty_source`).
NOTHING_SCANNED = "no event and 0 bytes scanned: nothing was read"
