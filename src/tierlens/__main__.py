"""`python -m tierlens ...` is the `tierlens` command."""

import sys

from tierlens.cli import main

sys.exit(main())
