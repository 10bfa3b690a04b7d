"""IP addresses compared as addresses, not as text: ``2001:0470:0001:0908:0000:0000:0000:9001``
and ``2001:470:1:908::9001`` are one address, and so are ``::ffff:185.220.101.34`` (an
IPv4-mapped IPv6 address) and ``185.220.101.34``, and ``2001:470:1:19::179%eth0`` (a zone)
and ``2001:470:1:19::179``. Every place the kit matches or groups
addresses (log filters, the IP pivot, related findings, Tor and GeoIP look-ups) uses
:func:`canonical_ip`: the address's compressed, lower-case form (an IPv4-mapped one as IPv4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import pandas as pd

#: The longest ``sourceIPAddress`` value read as an address (the longest IPv6 text is 45).
MAX_ADDRESS_CHARS = 64


def parse_address(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``value`` holds, the one reading every part of the kit shares (the Tor
    status, the per-IP groups, the filters and the pivot, the IP's kind and country), or None
    when it holds none.

    White space and brackets around it are taken off (``[2001:db8::1]``); an IPv6 zone
    (``2001:470:1:19::179%eth0``) is dropped: it names the link the address is reached on, not
    another address; an IPv4-mapped IPv6 address is its IPv4 address. None for anything else:
    ``AWS Internal``, a service name, ``185.220.101.34:443``, ``185.220.101.34%eth0`` (IPv4 has
    no zones), text longer than :data:`MAX_ADDRESS_CHARS`, a missing value.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_ADDRESS_CHARS:
        return None
    try:
        ip = ipaddress.ip_address(text.strip("[]"))  # as the Tor lists read it
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(int(ip))
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
    return ip


def canonical_ip(value: object) -> str | None:
    """``value``'s canonical text when it is an IP address (:func:`parse_address`: compressed,
    lower case; an IPv4-mapped IPv6 address as its IPv4 address, an IPv6 zone dropped); None
    for anything else (``AWS Internal``, a service name, a missing value)."""
    ip = parse_address(value)
    return None if ip is None else ip.compressed


def same_or_canonical(value: object) -> object:
    """``value`` as :func:`canonical_ip` writes it when it is an address; else unchanged (a
    ``sourceIPAddress`` such as ``AWS Internal`` stays as written)."""
    return canonical_ip(value) or value


def canonical_ips(values: Iterable[object]) -> frozenset[str]:
    """The canonical form of every address among ``values`` (other text left out)."""
    return frozenset(c for c in (canonical_ip(v) for v in values) if c is not None)


def canonical_column(column: pd.Series) -> pd.Series:
    """``column`` (addresses as text) with each address in canonical form, other text as it
    is; converted once per distinct value, not per row."""
    values = column.astype("string")
    distinct = values.dropna().unique()
    mapping = {v: same_or_canonical(v) for v in distinct}
    if all(k == v for k, v in mapping.items()):
        return values
    return values.map(mapping).astype("string")
