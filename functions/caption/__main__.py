import sys

from caption.cli import run

sys.exit(run())
