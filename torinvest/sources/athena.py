"""Compatibility: Athena moved into the SQL package — the engine to
:mod:`torinvest.sources.sql.athena`, the table's DDL to :mod:`torinvest.sources.sql.ddl`.

Import from those. This module only re-exports them for callers not yet changed (``cli.py``'s
``athena-ddl`` command); delete it once nothing imports it.
"""

from torinvest.sources.sql.athena import AthenaEngine, AthenaRun, Polling, athena_cost_usd
from torinvest.sources.sql.ddl import (
    CLOUDTRAIL_COLUMNS,
    DEFAULT_TABLE,
    INPUT_FORMAT,
    OUTPUT_FORMAT,
    SERDE,
    athena_ddl,
    trail_location,
)

__all__ = [
    "CLOUDTRAIL_COLUMNS",
    "DEFAULT_TABLE",
    "INPUT_FORMAT",
    "OUTPUT_FORMAT",
    "SERDE",
    "AthenaEngine",
    "AthenaRun",
    "Polling",
    "athena_cost_usd",
    "athena_ddl",
    "trail_location",
]
