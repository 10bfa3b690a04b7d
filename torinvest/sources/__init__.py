"""CloudTrail event sources. Each one returns the same events frame
(:data:`torinvest.schema.EVENTS_COLUMNS`) through the shared normalize step in
:mod:`torinvest.sources.records`:

- :mod:`torinvest.sources.logs`: log files in a folder, a file, or an ``s3://`` prefix;
- :mod:`torinvest.sources.lookup`: the CloudTrail LookupEvents API;
- :mod:`torinvest.sources.sql`: the same frame (and counts) through SQL engines: DuckDB over
  log files, Athena over the CloudTrail table.
"""
