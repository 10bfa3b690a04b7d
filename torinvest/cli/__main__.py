"""``python -m torinvest.cli``: the ``torinvest`` command."""

import sys

from torinvest.cli import main

sys.exit(main())
