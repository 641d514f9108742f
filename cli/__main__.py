"""`python -m nbengine_cli`: the same entry point as the `nbengine` console script."""

import sys

from nbengine_cli.entry import main

sys.exit(main())
