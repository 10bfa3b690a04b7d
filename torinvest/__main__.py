"""``python -m torinvest``: the ``torinvest`` command (as ``python -m torinvest.cli``), for an
environment whose scripts folder is not on PATH."""

import sys

from torinvest.cli import main

sys.exit(main())
