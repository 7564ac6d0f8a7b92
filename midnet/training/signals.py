"""SIGINT/SIGTERM during training: finish the step, checkpoint, then report which signal stopped it."""

from __future__ import annotations

import signal


class StopFlag:
    """Set by SIGINT/SIGTERM: the loop checkpoints and stops at the end of the step.

    ``signum`` keeps the signal, so the command can exit 128 + signal (143 for SIGTERM,
    130 for SIGINT) after the checkpoint: a scheduler or shell that stopped the run must
    not read it as a run that finished.
    """

    def __init__(self):
        self.raised = False
        self.signum: int | None = None
        self._old = {}

    def __enter__(self) -> "StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. under some test runners)
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.raised = True
        self.signum = signum
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C ends the process at once

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
