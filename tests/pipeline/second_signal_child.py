"""``memoryd worker`` in this process, for tests/pipeline/test_second_signal_cleanup.py: it sends
itself SIGTERM once the worker runs (a drain), and again at the worker's last log line (its run has
ended: only the command's clean-up of its Redis connections is left). A signal sent to oneself is
taken by the event loop at its next turn, so the second lands in that clean-up every time."""

from __future__ import annotations

import logging
import os
import signal
import sys

from memoryd.cli import app


class _Signals(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if (self.sent == 0 and "consuming" in text) or (self.sent == 1 and ": stopped: " in text):
            self.sent += 1
            os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    logging.getLogger("memoryd.pipeline").addHandler(_Signals())
    sys.argv = ["memoryd", "worker", *sys.argv[1:]]
    app()
