"""GuardDuty Tor findings: fetch from AWS or read from files, normalize, locate the access key.

Step one of AWS's procedure for ``UnauthorizedAccess:IAMUser/TorIPCaller`` and
``Recon:IAMUser/TorIPCaller``: find the finding and note the access key ID in it.

* :func:`fetch_findings` pages through ListFindings/GetFindings in every region asked, in parallel;
  a region that fails is reported as a :class:`~torinvest.errors.DataIssue` and the others go on.
* :func:`read_findings` reads every export shape (GetFindings response, one finding, a list, JSON
  lines, gzip, EventBridge envelopes, Security Hub ASFF; camelCase or PascalCase keys). A bad file
  becomes a data issue naming the file; every valid finding beside it still loads.
* :func:`normalize_findings` is pure and returns the findings frame
  (:data:`torinvest.schema.FINDINGS_COLUMNS`).
* :func:`locate_key` returns the :class:`KeyLocation` of one Tor finding.

"Not found" is said only where the search answered: :class:`FindingsResult` knows which sources
(regions, files) answered and which failed (``failed``). :meth:`FindingsResult.require_looked`
raises :class:`~torinvest.errors.CouldNotLookError` when none answered, and
:meth:`FindingsResult.get` says "not in the N region(s) that answered; M could not be searched …,
so it may be there" when some failed.

A field of the wrong JSON type (an ``accessKeyId`` that is a number or a list, a ``count`` that
is an object…) never crashes a load: an essential one (id, type, region, the access key) makes
that one finding a data issue naming the file/index and the field; any other is dropped with a
data issue. Identifiers are trimmed of surrounding whitespace (ASFF exports carry some).

The package, each module importing only those above it:

    checks   the Tor finding types, finding IDs, key kinds, essential fields, field types
    records  Finding, FindingsResult (what answered, what failed), KeyLocation; the frame
    shapes   any export shape → raw camelCase findings
    files    findings files and folders → FindingsResult (read_findings)
    fetch    GuardDuty in every region → FindingsResult (fetch_findings)
    fetched  a fetch kept in a file for the notebook a command runs (write_fetched, read_fetched)
    locate   the key a finding names (locate_key, iter_located)
"""

from torinvest.findings.checks import (
    BATCH_SIZE,
    FIELD_TYPES,
    FINDING_FILE_SUFFIXES,
    FINDING_ID_RE,
    TOR_FINDING_TYPES,
    KeyKind,
    check_finding_id,
    key_kind,
    sanitize,
)
from torinvest.findings.fetch import fetch_findings, fetch_region, finding_criteria
from torinvest.findings.files import finding_files, read_findings, read_findings_file
from torinvest.findings.locate import iter_located, locate_key
from torinvest.findings.records import (
    Finding,
    FindingsResult,
    KeyLocation,
    newest_sighting_first,
    normalize_findings,
)
from torinvest.findings.shapes import asff_to_finding, camelize, extract_findings

__all__ = [
    "BATCH_SIZE",
    "FIELD_TYPES",
    "FINDING_FILE_SUFFIXES",
    "FINDING_ID_RE",
    "TOR_FINDING_TYPES",
    "Finding",
    "FindingsResult",
    "KeyKind",
    "KeyLocation",
    "asff_to_finding",
    "camelize",
    "check_finding_id",
    "extract_findings",
    "fetch_findings",
    "fetch_region",
    "finding_criteria",
    "finding_files",
    "iter_located",
    "key_kind",
    "locate_key",
    "newest_sighting_first",
    "normalize_findings",
    "read_findings",
    "read_findings_file",
    "sanitize",
]
