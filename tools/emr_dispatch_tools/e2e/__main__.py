"""python -m emr_dispatch_tools.e2e (make e2e)."""

from __future__ import annotations

import sys

from emr_dispatch_tools.e2e.run import main

if __name__ == "__main__":
    sys.exit(main())
