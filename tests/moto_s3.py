"""Objects put into a bucket of the tests' moto server at once, not one request each.

A test that needs hundreds of objects in a bucket (a trail's log and digest files) spent most of
its time on PutObject: moto parses, authenticates and routes every request, ~20-50 ms each on
the CI machine, several seconds a test. The moto server (tests/conftest.py ``moto_server``) runs
in the test's process, its state in moto's backends: :func:`put_objects` stores the objects in
the bucket's backend directly, as moto's PutObject does (the same object, metadata, versions),
in a few milliseconds. The bucket itself is made through the S3 API (``create_bucket``, and
versioning if asked), so that what is read back goes through S3 as before: only the seeding is
short-cut, never the reading under test.

:func:`quicken_moto` takes a cost off every request to the server (a listing of moto's package
folder per request), for every test that uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping


def put_objects(bucket: str, objects: Iterable[tuple[str, bytes, Mapping[str, str]]]) -> int:
    """Store ``objects`` (key, body, user metadata without the ``x-amz-meta-`` prefix) in
    ``bucket`` of the in-process moto server, as PutObject would; returns how many. The bucket
    must have been created through the API first (its account and partition are moto's)."""
    from moto.s3.models import s3_backends  # moto is slow to import: only when asked

    where = s3_backends.bucket_accounts.get(bucket)
    if where is None:  # not this process's moto, or not created: say so, never seed elsewhere
        raise LookupError(f"bucket {bucket!r} is not in this process's moto server")
    partition, account = where
    backend = s3_backends[account][partition]
    n = 0
    for key, body, metadata in objects:
        stored = backend.put_object(bucket, key, body)
        stored.set_metadata({f"x-amz-meta-{k.lower()}": v for k, v in metadata.items()})
        n += 1
    return n


def quicken_moto() -> None:
    """moto's server lists its package folder (a ``stat`` of each of its ~180 service folders)
    on every request, to route it (``moto.backends.list_of_moto_modules``, called by its
    ``DomainDispatcherApplication.get_backend_for_host``): a third of the server's time on an
    S3 GetObject. The folder does not change while the tests run: list it once. Idempotent."""
    import moto.backends

    listing = moto.backends.list_of_moto_modules
    if getattr(listing, "cache_info", None) is None:  # not done yet
        moto.backends.list_of_moto_modules = functools.cache(lambda: tuple(listing()))
