"""botocore's data loaders (service models, endpoints, partitions), shared by every botocore
session torinvest makes (:func:`shared_loader`), and the one that reads AWS's models outside any
session (:func:`model_loader`).
"""

from __future__ import annotations

import os
import threading

import botocore.loaders


class _SearchPaths(list[str]):
    """A loader's search paths that ignore a path added again: every boto3 Session adds its
    own data folder to its botocore session's loader, which :func:`shared_loader` shares."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


#: botocore's data loaders, one per ``data_path`` (``AWS_DATA_PATH``), shared by every
#: botocore session this process makes (:func:`torinvest.aws.session._botocore_session`).
_LOADERS: dict[str | None, botocore.loaders.Loader] = {}
_LOADERS_LOCK = threading.Lock()


def shared_loader(data_path: str | None = None) -> botocore.loaders.Loader:
    """botocore's data loader for ``data_path`` (``AWS_DATA_PATH``), made once per process and
    shared by every botocore session this process makes (:func:`torinvest.aws.session._botocore_session`).

    A loader keeps what it has read (service models, endpoints.json, partitions, endpoint
    rule sets, retry settings), but each botocore Session makes a loader of its own: every new
    session read and parsed megabytes of JSON again (a session per command, per assumed role,
    per finding of a batch: tens of milliseconds of CPU for each client of a new session). The
    same files give the same data, so sessions share one loader, as botocore allows
    (``botocore.session.Session.register_component``). Its search paths are
    :func:`botocore.loaders.create_loader`'s."""
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            paths = _SearchPaths(
                os.path.expanduser(os.path.expandvars(p))
                for p in (data_path.split(os.pathsep) if data_path else ())
            )
            loader = _LOADERS[data_path] = botocore.loaders.Loader(extra_search_paths=paths)
        return loader


def model_loader() -> botocore.loaders.Loader:
    """The loader that reads botocore's own data outside any session — an ID's shape in a
    service model, the partitions, a service's regions — with ``AWS_DATA_PATH``'s search paths,
    never a profile: ``botocore.session.get_session()`` read the configuration chain for its
    ``data_path``, and an ``AWS_PROFILE`` naming no profile raised botocore's ProfileNotFound
    (a traceback) from parsing ``--access-key``, not the command's one line naming it."""
    return shared_loader(os.environ.get("AWS_DATA_PATH") or None)
