"""What ``midnet deblur``'s bars show on a terminal: messages on lines of their own, each frame's own clock."""

from __future__ import annotations

import io
import re
import time

from midnet.images.progress import BatchProgress


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so that the bars are drawn into it."""

    def isatty(self) -> bool:
        return True


def screens(text: str) -> list[str]:
    """Every line as the terminal last shows it between carriage returns and newlines, cursor moves removed."""
    return [s for s in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)) if s.strip()]


def tiles_shown(term: Terminal, since: int) -> str:
    """The tiles bar as last drawn after character ``since`` of the terminal's text."""
    return [s for s in screens(term.getvalue()[since:]) if s.startswith("tiles")][-1]


def test_a_message_during_the_batch_has_a_line_of_its_own():
    term = Terminal()
    message = "engine auto: torch fp32 (cached measurement; 512px trial frame: torch fp32 0.24 s)"
    with BatchProgress(2, term) as progress:
        progress.on_tile(1, 4)
        progress.write(message)
        progress.on_tile(2, 4)
        progress.file_done(None, "restored")
    term.write("1 restored, 0 skipped, 0 failed\n")  # the summary, once the bars are closed
    assert message in screens(term.getvalue())  # not glued to the end of a bar
    assert screens(term.getvalue()).count(message) == 1
    assert screens(term.getvalue())[-1] == "1 restored, 0 skipped, 0 failed"


def test_the_tiles_clock_restarts_with_every_frame_not_with_the_bar():
    term = Terminal()
    with BatchProgress(3, term) as progress:
        time.sleep(1.1)  # the model loads after the bars are made
        progress.begin()
        mark = len(term.getvalue())
        progress.on_tile(1, 2)
        progress.on_tile(2, 2)
        first = tiles_shown(term, mark)
        progress.file_done(None, "restored")
        mark = len(term.getvalue())
        progress.on_tile(1, 2)
        time.sleep(1.1)  # a slow file: its own time shows
        progress.on_tile(2, 2)
        slow = tiles_shown(term, mark)
        progress.file_done(None, "restored")
        mark = len(term.getvalue())
        progress.on_tile(1, 2)
        progress.on_tile(2, 2)
        progress.on_tile(1, 2)  # the second page of a stack: its clock starts where the first page ended
        last = tiles_shown(term, mark)
    assert "2/2 [00:00<" in first and "tile/s" in first  # not the loading's second, not "0.55s/tile"
    assert "2/2 [00:01<" in slow
    assert "1/2 [00:00<" in last  # not the seconds of the files before it


def test_a_long_step_announces_itself_and_shows_its_clock_on_a_terminal():
    from midnet.images.progress import working

    term, log = Terminal(), io.StringIO()
    for stream in (term, log):
        with working("exporting m to m.zip (a package)...", stream):
            time.sleep(1.3)
        stream.write("wrote m.zip in 1 s\n")
    assert screens(term.getvalue())[0] == "exporting m to m.zip (a package)..."
    assert any(s.startswith("  working: 00:01") for s in screens(term.getvalue()))  # alive, not hung
    assert screens(term.getvalue())[-1] == "wrote m.zip in 1 s"
    assert log.getvalue() == "exporting m to m.zip (a package)...\nwrote m.zip in 1 s\n"  # a log: no clock
