import os
import sys

from caption.cli import run

try:
    status = run()
except BrokenPipeError:
    # The reader went away (`python -m caption DIR | head`): stop quietly, as other command-line
    # tools do. Python's own flush at exit would raise again, so stdout goes to /dev/null.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    status = 141  # 128 + SIGPIPE, what a shell reports for a tool a closed pipe stopped
sys.exit(status)
