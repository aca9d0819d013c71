"""``python -m tasks_emulator``: see server.py."""

import sys

from tasks_emulator.server import main

sys.exit(main())
