"""torinvest: investigate GuardDuty TorIPCaller findings.

The package follows AWS's resolution steps for ``UnauthorizedAccess:IAMUser/TorIPCaller`` and
``Recon:IAMUser/TorIPCaller``: find the finding and the access key in it (:mod:`torinvest.findings`),
pull that key's CloudTrail activity, chart it by source IP, and record a verdict.
"""

from torinvest.imports import defer_iri_grammars

__version__ = "0.1.0"

defer_iri_grammars()  # 1.2 s of CPU in each process that imports nbformat: see its doc

__all__ = ["__version__"]
