"""The columns an Athena table for CloudTrail really has, and what the queries cannot read
from one that lacks some.

Analysts point ``--engine athena`` at the table they have: made by the CloudTrail console's
"Create Athena table" button or copied from an older "Querying AWS CloudTrail logs" DDL, it may
lack columns of today's DDL (:data:`~.ddl.CLOUDTRAIL_COLUMNS`: ``sessioncredentialfromconsole``,
``eventcategory``, ``tlsdetails``…) or fields of its structs, and its partitions may be
``region, year, month, day`` (manual partitioning) or none. :class:`TableColumns` is what
Athena's ``GetTableMetadata`` says of the table (its columns, with every struct field as a
dotted path, and its partition keys); :meth:`TableColumns.unread` the columns of ``events``
(:data:`~.projection.TABLE_FIELDS`) it cannot give, which the engine projects as NULL and names
in a data issue (:func:`unread_issue`: what was not read, and the ``ALTER TABLE`` that adds
the column). Plain text: nothing here talks to AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torinvest.errors import DataIssue
from torinvest.sources.sql.ddl import CLOUDTRAIL_COLUMNS
from torinvest.sources.sql.projection import CONSOLE_SESSION, MFA_USED, TABLE_FIELDS

if TYPE_CHECKING:
    from sqlglot import exp

log = logging.getLogger(__name__)


def type_fields(type_text: str) -> list[str]:
    """The fields (dotted paths, lower case) of a Hive type as Glue writes it: ``struct<a:string,
    b:struct<c:string>>`` → ``a``, ``b``, ``b.c``; none for a type that is no struct (nor for
    fields inside an ``array<…>`` or ``map<…>``: the queries read none there), nor for a type
    sqlglot cannot read (its fields are then named as not read, never guessed)."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        built = exp.DataType.build(type_text, dialect="hive")
    except (SqlglotError, ValueError):
        log.warning("cannot read the Hive type %.200r: its fields are taken as absent", type_text)
        return []
    return _struct_fields(built)


def _struct_fields(kind: exp.DataType | None) -> list[str]:
    from sqlglot import exp

    if not isinstance(kind, exp.DataType) or kind.this != exp.DataType.Type.STRUCT:
        return []
    out: list[str] = []
    for column in kind.expressions:
        name = column.name.lower()
        out += [name, *(f"{name}.{f}" for f in _struct_fields(column.args.get("kind")))]
    return out


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside ``<…>``."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c == "<") - (c == ">")
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


#: Today's CloudTrail columns (:data:`~.ddl.CLOUDTRAIL_COLUMNS`): name → Hive type.
CURRENT_TYPES: dict[str, str] = {
    part.split(None, 1)[0].lower(): part.split(None, 1)[1]
    for part in _split_top(CLOUDTRAIL_COLUMNS)
}


@dataclass(frozen=True, slots=True)
class TableColumns:
    """A table's columns as Athena describes them: ``fields``, every column and struct field
    as a dotted path in lower case (``useridentity``, ``useridentity.sessioncontext``…), and
    its partition keys (``partitions``, lower case, in order)."""

    fields: frozenset[str]
    partitions: tuple[str, ...] = ()

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> TableColumns:
        """From GetTableMetadata's ``TableMetadata`` (``Columns`` and ``PartitionKeys``:
        ``Name`` and ``Type`` each)."""
        fields: set[str] = set()
        for column in _named(metadata.get("Columns")):
            name = str(column["Name"]).lower()
            fields.add(name)
            fields.update(f"{name}.{f}" for f in type_fields(str(column.get("Type") or "")))
        partitions = tuple(str(c["Name"]).lower() for c in _named(metadata.get("PartitionKeys")))
        return cls(frozenset(fields), partitions)

    @classmethod
    def current(cls) -> TableColumns:
        """The columns of :func:`~.ddl.athena_ddl`'s table (today's DDL)."""
        fields = {
            path
            for name, kind in CURRENT_TYPES.items()
            for path in (name, *(f"{name}.{f}" for f in type_fields(kind)))
        }
        return cls(frozenset(fields), ("account", "region", "date"))

    def missing(self, column: str) -> tuple[str, ...]:
        """The table columns (dotted paths) that column ``column`` of ``events`` reads and
        the table lacks."""
        return tuple(f for f in TABLE_FIELDS[column] if f not in self.fields)

    def unread(self, columns: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The columns of ``events`` among ``columns`` the table cannot give, and what each
        lacks."""
        out = {}
        for column in columns:
            lacking = self.missing(column)
            if lacking:
                out[column] = lacking
        return out


def _named(value: object) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [c for c in value if isinstance(c, Mapping) and isinstance(c.get("Name"), str)]


#: What a query cannot read when the table lacks what a column of ``events`` reads (else:
#: the column is empty in every row).
UNREAD_WHAT: dict[str, str] = {
    CONSOLE_SESSION: (
        "the calls of console sessions (the temporary keys a console sign-in gives, "
        "sessionCredentialFromConsole) cannot be told from the user's other calls, so those "
        "sessions' calls were not read (the sign-ins themselves were)"
    ),
    MFA_USED: "whether console sign-ins used MFA (additionalEventData.MFAUsed) is not known",
    "mfa_authenticated": (
        "whether sessions were MFA-authenticated (mfa_authenticated) is not known: empty in "
        "every row"
    ),
}


def add_columns_sql(table: str, missing: Collection[str]) -> str:
    """The statement that gives ``table`` (``db.table``) the ``missing`` columns of today's
    DDL: ``ALTER TABLE … ADD COLUMNS (…)`` for whole columns (Athena adds them to a Hive table
    in place; the log files are read with them from then on); a missing struct field has no
    such statement (Athena's REPLACE COLUMNS is for LazySimpleSerDe tables, not CloudTrail's
    JSON ones): the table is made again with ``torinvest athena-ddl``."""
    whole = sorted({m.split(".", 1)[0] for m in missing if "." not in m})
    nested = sorted(m for m in missing if "." in m)
    parts = []
    if whole:
        columns = ", ".join(f"{c} {_one_line(CURRENT_TYPES.get(c, 'STRING'))}" for c in whole)
        parts.append(f"ALTER TABLE {table} ADD COLUMNS ({columns})")
    if nested:
        parts.append(
            f"for {', '.join(nested)} (a field of a struct column): DROP TABLE {table} and "
            "create it again with the statement `torinvest athena-ddl` prints (the log files "
            "stay where they are)"
        )
    return "; ".join(parts)


def _one_line(kind: str) -> str:
    return " ".join(kind.split())


def add_columns_command(table: str, missing: Collection[str]) -> str:
    """The ``torinvest athena-ddl --add-columns`` command that prints :func:`add_columns_sql`
    for the whole columns of ``missing`` (``table``: ``db.table``), or ``""`` for none."""
    whole = sorted(m for m in missing if "." not in m)
    if not whole:
        return ""
    database, _, name = table.rpartition(".")
    on = f" --database {database}" if database else ""
    return f"torinvest athena-ddl --add-columns {','.join(whole)}{on} --table {name}"


def _add_it(table: str, missing: Sequence[str]) -> str:
    command = add_columns_command(table, missing)
    printed = f" (`{command}` prints it)" if command else ""
    return f"add it with {add_columns_sql(table, missing)}{printed}"


def lacks_text(table: str, missing: Sequence[str]) -> str:
    """``the table … lacks column …: add it with …`` (the statement, and the command that
    prints it)."""
    return (
        f"the table {table} lacks column {', '.join(missing)} (made from an older CloudTrail "
        f"DDL): {_add_it(table, missing)}"
    )


def unread_issue(location: str, table: str, column: str, missing: Sequence[str]) -> DataIssue:
    """The issue of a query that could not read column ``column`` of ``events`` because the
    table (``athena:db.table`` at ``location``; ``table`` as SQL names it) lacks ``missing``."""
    what = UNREAD_WHAT.get(column, f"{column} is empty (not read) in every row")
    return DataIssue(
        location,
        f"the table lacks column {', '.join(missing)} (made from an older CloudTrail DDL): "
        f"{what}; {_add_it(table, missing)}, or read the log files (--logs s3://…)",
    )
