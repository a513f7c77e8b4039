"""``python -m jarvis_tui``: the same as the ``jarvis-tui`` script."""

import sys

from jarvis_tui.cli import main

sys.exit(main())
