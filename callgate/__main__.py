"""`python -m callgate` is the `callgate` command."""

import sys

from callgate.cli import main

sys.exit(main())
