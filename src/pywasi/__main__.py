"""`python -m pywasi run ...`, the same as the `pywasi` command."""

import sys

from .cli import main

sys.exit(main())
