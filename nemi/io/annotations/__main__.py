"""``python -m nemi.io.annotations``: see nemi.io.annotations.cli."""

import sys

from nemi.io.annotations.cli import main

sys.exit(main())
