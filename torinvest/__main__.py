"""``python -m torinvest``: the ``torinvest`` command (as ``python -m torinvest.cli``), for an
environment whose scripts folder is not on PATH; :func:`run` is the ``torinvest`` script's
entry point too."""

import sys


def run() -> int:
    """The command, its modules loaded here: a Ctrl-C while they load (1-2 s, before
    :func:`torinvest.cli.main` handles it) ends as ``main`` ends one — ``torinvest:
    interrupted``, exit 130 — never with a traceback of the import."""
    try:
        from torinvest.cli import main
    except KeyboardInterrupt:
        print("torinvest: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
