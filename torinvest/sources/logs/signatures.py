"""A CloudTrail digest file's signature, checked as AWS documents it ("Validating CloudTrail log
file integrity", and the CLI's ``aws cloudtrail validate-logs``).

CloudTrail signs each digest with its region's private key (SHA256withRSA) and puts the
signature, hex-encoded, in the digest object's S3 metadata (``x-amz-meta-signature``, with
``x-amz-meta-signature-algorithm``). What it signs is the string
``digestEndTime + "\\n" + digestS3Bucket/digestS3Object + "\\n" + hex(SHA-256 of the
decompressed digest) + "\\n" + previousDigestSignature`` (``null`` for a trail's first digest,
:func:`string_to_sign`). The public key is the one CloudTrail's ``ListPublicKeys`` returns for
the digest's region and time whose ``Fingerprint`` is the digest's
``digestPublicKeyFingerprint`` (:class:`PublicKeys`: asked once per region and run).

:func:`check_seal` says what a digest is: verified (None), :class:`Altered` (its signature does
not verify: it was changed since CloudTrail wrote it), or :class:`Unverified` — with
``proof`` saying whether it may still be taken as the trail's word: yes when the reason lies
outside the digest (a local copy carries no S3 metadata; the public keys could not be listed),
no when the reason is in what the bucket holds (no signature on an S3 digest, an unknown key,
another algorithm), which whoever rewrote the digest controls.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from torinvest.aws import AWS_CALL_ERRORS, follow_pages, translate_error
from torinvest.errors import TorinvestError

log = logging.getLogger(__name__)

#: The S3 user metadata CloudTrail sets on a digest object (``x-amz-meta-…``).
SIGNATURE = "signature"
SIGNATURE_ALGORITHM = "signature-algorithm"
SHA256_RSA = "SHA256withRSA"
#: The public keys are asked for this far around the digests' times (a key signs for weeks).
KEY_MARGIN = timedelta(days=1)
TRAIL_MARK = "AWSLogs/"


class Altered(ValueError):
    """A digest whose signature does not verify: changed since CloudTrail signed it."""


class Unverified(ValueError):
    """A digest whose signature could not be checked, and why. ``proof``: whether it may
    still be read as the trail's word (the reason is not in what the bucket holds)."""

    def __init__(self, why: str, *, proof: bool) -> None:
        super().__init__(why)
        self.proof = proof


@dataclass(frozen=True, slots=True)
class Seal:
    """The signature a digest object carries (its S3 metadata), None when it has none."""

    signature: str | None
    algorithm: str | None

    @classmethod
    def of(cls, metadata: Mapping[str, str]) -> Seal:
        """From an S3 object's user metadata (GetObject's ``Metadata``: keys lowercased)."""
        meta = {str(k).lower(): v for k, v in metadata.items()}
        return cls(meta.get(SIGNATURE) or None, meta.get(SIGNATURE_ALGORITHM) or None)


def below_trail(location: str) -> str:
    """A key or path from its last ``AWSLogs/`` on (a trail copied under another bucket or
    prefix keeps it)."""
    loc = location.replace("\\", "/")
    at = ("/" + loc).rfind("/" + TRAIL_MARK)
    return loc if at < 0 else loc[at:]


def _as_placed(key: str, location: str) -> str:
    """``key`` compared with where a digest was read (``location``): from its last
    ``AWSLogs/`` on, or its file name alone when ``location`` is outside the trail's layout (a
    flat folder of downloads keeps the names, not the folders)."""
    if ("/" + location.replace("\\", "/")).rfind("/" + TRAIL_MARK) < 0:
        return key.replace("\\", "/").rpartition("/")[2]
    return below_trail(key)


def string_to_sign(doc: Mapping[str, Any], inflated: bytes) -> bytes:
    """What CloudTrail signed for the digest ``doc`` (its decompressed bytes ``inflated``)."""
    previous = doc.get("previousDigestSignature")
    return (
        f"{doc.get('digestEndTime')}\n{doc.get('digestS3Bucket')}/{doc.get('digestS3Object')}\n"
        f"{hashlib.sha256(inflated).hexdigest()}\n{'null' if previous is None else previous}"
    ).encode()


class PublicKeys:
    """CloudTrail's public keys of each region (``ListPublicKeys``, every page), asked once per
    region for ``start``–``end`` (and again only for a digest outside every range asked);
    ``client_of(region)`` gives that region's CloudTrail client (None: no AWS at all). A
    region whose keys could not be listed is not asked again."""

    def __init__(
        self,
        client_of: Callable[[str], Any] | None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        self.client_of = client_of
        self.start, self.end = start, end
        self._keys: dict[str, dict[str, bytes]] = {}
        self._ranges: dict[str, list[tuple[datetime, datetime]]] = {}
        self._refused: dict[str, Unverified] = {}

    def key(self, region: str, fingerprint: str, when: datetime) -> rsa.RSAPublicKey:
        """The RSA key ``fingerprint`` of ``region`` valid around ``when``. Raises
        :class:`Unverified`: keys not listed (``proof``), no key of that fingerprint (not)."""
        if self.client_of is None:
            raise Unverified("no AWS session to list the trail's public keys", proof=True)
        if region in self._refused:
            raise self._refused[region]
        if not any(a <= when <= b for a, b in self._ranges.get(region, ())):
            if self.start is not None and self.end is not None and self.start <= when <= self.end:
                span = (self.start - KEY_MARGIN, self.end + KEY_MARGIN)
            else:
                span = (when - KEY_MARGIN, when + KEY_MARGIN)
            self._list(region, *span)
        der = self._keys.get(region, {}).get(fingerprint)
        if der is None:
            raise Unverified(
                f"no public key of fingerprint {fingerprint[:64]!r} in {region} "
                f"(cloudtrail:ListPublicKeys) for its time",
                proof=False,
            )
        try:
            key = load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm) as e:
            raise Unverified(
                f"public key {fingerprint[:64]!r} cannot be loaded ({e})", proof=True
            ) from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise Unverified(f"public key {fingerprint[:64]!r} is not an RSA key", proof=True)
        return key

    def _list(self, region: str, start: datetime, end: datetime) -> None:
        try:
            client = self.client_of(region)  # type: ignore[misc]
            pages = follow_pages(
                client.get_paginator("list_public_keys").paginate(StartTime=start, EndTime=end),
                "NextToken",
                "cloudtrail",
                "ListPublicKeys",
                region=region,
            )
            found = {
                str(k["Fingerprint"]): bytes(k["Value"])
                for page in pages
                for k in page.get("PublicKeyList") or ()
                if isinstance(k, Mapping) and k.get("Fingerprint") and k.get("Value")
            }
        except AWS_CALL_ERRORS as e:
            error = translate_error(
                e, service="cloudtrail", region=region, operation="ListPublicKeys"
            )
            self._refuse(region, str(error))
        except TorinvestError as e:
            self._refuse(region, str(e))
        self._keys.setdefault(region, {}).update(found)
        self._ranges.setdefault(region, []).append((start, end))

    def _refuse(self, region: str, why: str) -> None:
        log.info("the public keys of %s could not be listed: %s", region, why)
        self._refused[region] = Unverified(
            f"the trail's public keys could not be listed in {region}: {why}", proof=True
        )
        raise self._refused[region]


def check_seal(
    doc: Mapping[str, Any],
    inflated: bytes,
    location: str,
    seal: Seal | None,
    region: str,
    keys: PublicKeys,
) -> None:
    """Whether the digest ``doc`` (``inflated``: its decompressed bytes; ``location``: where
    it was read; ``seal``: its object's signature, None for a local file) is CloudTrail's
    own: returns when its signature verifies, raises :class:`Altered` or :class:`Unverified`
    (module docstring)."""
    if seal is None:
        raise Unverified("a local copy has no S3 metadata, where the signature is", proof=True)
    if seal.signature is None:
        raise Unverified(
            "it has no signature (S3 metadata x-amz-meta-signature), which CloudTrail gives "
            "every digest it delivers: copied without its metadata, or replaced",
            proof=False,
        )
    algorithm = seal.algorithm or doc.get("digestSignatureAlgorithm")
    if algorithm != SHA256_RSA:
        raise Unverified(
            f"its signature algorithm {str(algorithm)[:40]!r} is not SHA256withRSA", proof=False
        )
    named = doc.get("digestS3Object")
    if not isinstance(named, str) or _as_placed(named, location) != _as_placed(location, location):
        raise Unverified(
            f"it names itself {str(named)[:200]!r} (digestS3Object): not where it was read",
            proof=False,
        )
    end = doc.get("digestEndTime")
    fingerprint = doc.get("digestPublicKeyFingerprint")
    if not isinstance(fingerprint, str) or not isinstance(end, str):
        raise Unverified("it has no digestPublicKeyFingerprint or digestEndTime", proof=False)
    try:
        when = datetime.fromisoformat(end).astimezone(UTC)
    except ValueError:
        raise Unverified(f"digestEndTime {end[:40]!r} is not a time", proof=False) from None
    key = keys.key(region, fingerprint, when)
    try:
        signature = binascii.unhexlify(seal.signature.strip())
    except (binascii.Error, ValueError):
        raise Altered("its signature (x-amz-meta-signature) is not hex") from None
    try:
        key.verify(signature, string_to_sign(doc, inflated), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Altered("signature does not verify") from None
