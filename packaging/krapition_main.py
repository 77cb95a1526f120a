"""The frozen app's entry script: the same as the ``krapition`` command (GUI app and subcommands)."""

import sys

from krapition_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
