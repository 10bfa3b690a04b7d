"""Report kernels talk over Unix sockets in a private folder: no TCP port is picked free and
bound later by the kernel (another process could take it in between — the kernel then failed
to bind and the run waited out the start timeout), and nothing is left behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from torinvest.report.kernel import execute, kernel_manager_class

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix sockets: POSIX only")


def test_the_kernel_manager_uses_unix_sockets_of_a_short_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    km = kernel_manager_class()(kernel_name="python3")
    assert km.transport == "ipc"
    assert km.ip.startswith(str(tmp_path)) and len(km.ip) + len("-65535") <= 107


def test_a_notebook_runs_over_them_and_leaves_no_socket_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("parameters = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import json, os; print(json.dumps(os.environ.get('X')))"),
    ]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    assert execute(src, out, {}, cwd=tmp_path) is None
    ran = nbformat.read(out, as_version=4)
    assert ran.cells[-1].outputs[0]["text"].strip() == "null"
    assert list(spool.iterdir()) == []  # the socket folder went with the kernel
