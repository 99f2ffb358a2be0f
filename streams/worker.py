"""`inboxtrail worker`: run the Faust application in this process until SIGTERM/SIGINT."""
from __future__ import annotations

import faust

from inboxtrail.settings import Settings
from streams.app import create_app


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # returns via SystemExit when the worker stops
    return 0
