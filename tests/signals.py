"""Starting a command as a terminal would, for tests that press Ctrl-C."""

from __future__ import annotations

import signal


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a command the test will interrupt: SIGINT at its default, as a shell
    leaves it for a command in the foreground. A test run started in the background (``cmd &``,
    ``nohup``, some CI runners) ignores SIGINT, and a command inherits that: Python then never
    raises KeyboardInterrupt, and Ctrl-C tests would fail for a reason that is not theirs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
