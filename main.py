# PYTHON_ARGCOMPLETE_OK  (shell completion: see README)
"""Entry point: `python main.py --help`."""

import sys

from agent_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
