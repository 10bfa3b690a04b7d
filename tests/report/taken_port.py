"""A report kernel whose shell port another process takes before the kernel binds it (the race
jupyter_client's free-port pick leaves open): the first kernel started dies as it starts."""

from __future__ import annotations

import socket
import sys
from typing import Any

from torinvest.report import kernel


def take_the_first_kernels_port() -> list[socket.socket]:
    """Patch :func:`torinvest.report.kernel.kernel_manager_class` so that the first kernel's shell
    port is bound here first; returns the sockets taken (close them when done)."""
    made, taken = kernel.kernel_manager_class, []

    def port_taken_once(said: Any = None) -> type:
        class PortTakenOnce(made(said)):  # type: ignore[misc]
            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                if not taken:
                    sock = socket.socket()
                    sock.bind((self.ip, self.shell_port))
                    sock.listen()
                    taken.append(sock)
                await super()._async_launch_kernel(kernel_cmd, **kw)

        return PortTakenOnce

    kernel.kernel_manager_class = port_taken_once  # type: ignore[assignment]
    return taken


if __name__ == "__main__":  # the CLI with the first kernel's port taken: python -m tests.report.…
    from torinvest.cli import main

    taken = take_the_first_kernels_port()
    code = main(sys.argv[1:])
    assert taken, "the kernel's port was not taken"
    sys.exit(code)
