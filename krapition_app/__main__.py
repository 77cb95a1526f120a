"""``python -m krapition_app``: the same as the ``krapition`` command."""

import sys

from .cli import main

sys.exit(main())
