"""Case folders: the offline layout shared by analysts, tests and the demo.

::

    CASE/findings/     GuardDuty findings in any export shape (see torinvest.findings)
    CASE/cloudtrail/   CloudTrail log files, lookup-events exports or JSON lines
    CASE/tor/          optional Tor exit lists

The embedded sample case ships inside the package (:func:`sample_case`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from torinvest.errors import InputError

SUBFOLDERS = ("findings", "cloudtrail", "tor")


@dataclass(frozen=True, slots=True)
class Case:
    """A case folder. ``findings``/``cloudtrail``/``tor`` are its subfolders (they may be absent)."""

    root: Path

    @classmethod
    def open(cls, path: str | Path) -> Case:
        """Open a case folder; raise InputError naming the path if it is not one."""
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InputError(
                f"case folder {root} does not exist or is not a folder",
                hint="pass the folder that holds findings/ and cloudtrail/",
            )
        if not any((root / sub).is_dir() for sub in SUBFOLDERS):
            raise InputError(
                f"{root} is not a case folder: it has none of {', '.join(SUBFOLDERS)}/",
                hint="put GuardDuty exports in findings/ and CloudTrail logs in cloudtrail/",
            )
        return cls(root)

    @property
    def findings(self) -> Path:
        return self.root / "findings"

    @property
    def cloudtrail(self) -> Path:
        return self.root / "cloudtrail"

    @property
    def tor(self) -> Path:
        return self.root / "tor"

    def require(self, sub: str) -> Path:
        """The subfolder ``sub``, or InputError saying it is missing."""
        p = self.root / sub
        if not p.is_dir():
            raise InputError(
                f"case folder {self.root} has no {sub}/ subfolder",
                hint=f"create {p} and put the {sub} files in it",
            )
        return p


def sample_case() -> Case:
    """The embedded sample case shipped in the package (used by ``make demo`` and the tests)."""
    root = resources.files("torinvest") / "data" / "sample_case"
    return Case(Path(str(root)))
