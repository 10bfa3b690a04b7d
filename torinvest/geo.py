"""Country and ASN of an IP from MaxMind databases (:class:`GeoIP`; the optional ``geoip2``
package), or from any callable with the same answer (:data:`GeoLookup`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from torinvest.errors import InputError

GeoLookup = Callable[[str], Mapping[str, Any] | None]
GeoInput = str | Path | Sequence[str | Path] | GeoLookup


class GeoIP:
    """Country and ASN of an IP from MaxMind databases (GeoLite2/GeoIP2 City, Country, ASN, ISP).

    Needs the optional ``geoip2`` package. Calling the object with an IP returns a dict with
    ``country``, ``asn`` and ``asn_org`` (the keys that the databases answer), or None.
    """

    def __init__(self, paths: str | Path | Sequence[str | Path]) -> None:
        try:
            import geoip2.database
            import geoip2.errors
        except ImportError as e:
            raise InputError(
                "a MaxMind database was given but the geoip2 package is not installed",
                hint="pip install geoip2 (optional), or leave geoip unset: the findings' "
                "remoteIpDetails still give country and ASN for the Tor IPs",
            ) from e
        self._not_found: type[Exception] = geoip2.errors.AddressNotFoundError
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        self._readers: list[Any] = []
        for p in items:
            path = Path(p).expanduser()
            if not path.is_file():
                self.close()
                raise InputError(
                    f"MaxMind database {path} does not exist",
                    hint="pass the path of a .mmdb file (GeoLite2-Country, -City or -ASN)",
                )
            self._readers.append(geoip2.database.Reader(str(path)))

    def __call__(self, ip: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for reader in self._readers:
            kind = str(reader.metadata().database_type)
            try:
                if "ASN" in kind or "ISP" in kind:
                    rec = reader.asn(ip) if "ASN" in kind else reader.isp(ip)
                    number = rec.autonomous_system_number
                    out["asn"] = None if number is None else str(number)
                    out["asn_org"] = rec.autonomous_system_organization
                elif "City" in kind:
                    out["country"] = reader.city(ip).country.name
                elif "Country" in kind:
                    out["country"] = reader.country(ip).country.name
            except (self._not_found, ValueError):
                continue
        return out or None

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    def __enter__(self) -> GeoIP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
