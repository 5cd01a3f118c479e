"""`python -m caption.train.export bundle DIR | seed SEED OUT` (caption.train.export.bundle)."""

import sys

from caption.train.export.bundle import main

sys.exit(main())
