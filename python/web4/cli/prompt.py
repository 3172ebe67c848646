"""The interactive prompt of ``web4 human``: line editing and history at a terminal.

Theory of operation: when the human types at a terminal (stdin and stdout are ttys),
``web4 human`` reads lines with ``input()`` over GNU readline (the standard library's
``readline``: cursor keys, Ctrl-A/E/W/R, up-arrow history; no new dependency) in a reader
thread, while the agent's messages arrive on the asyncio thread. ``print_above`` prints
such a message on its own line above the prompt and redraws the prompt with what the human
has typed so far, so an answer never lands in the middle of the line being edited. With a
history file (``--data-dir``: ``DATA_DIR/human_history``, 0600, at most ``HISTORY_LINES``)
each non-empty line is appended as it is entered, so Ctrl-C loses none, and the next
session starts with them. ``close`` restores the terminal's settings (readline changes
them while it waits for a line), since the process may exit with the reader thread still
waiting in ``input()``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["HISTORY_FILE_NAME", "HISTORY_LINES", "Prompt", "interactive"]

HISTORY_FILE_NAME = "human_history"
HISTORY_LINES = 1000
_CLEAR_LINE = "\r\x1b[K"


def interactive(stdin: IO[str], stdout: IO[str]) -> bool:
    """Is a person typing at a terminal (the process's own stdin and stdout, which is
    what ``input()`` and readline use)?"""
    try:
        return stdin is sys.stdin and stdout is sys.stdout and stdin.isatty() and stdout.isatty()
    except (AttributeError, ValueError):
        return False


class Prompt:
    """``read`` lines with readline; ``print_above`` the prompt from another thread."""

    def __init__(self, out: IO[str], text: str = "you> ", history: Path | None = None) -> None:
        import readline  # only at a terminal: importing it can emit escape sequences
        import termios

        self._readline: Any = readline
        self._out, self.text, self.history = out, text, history
        self._lock = threading.Lock()
        self._waiting = False  # input() shows the prompt and the line being typed
        self._closed = False
        self._saved: Any = None
        with contextlib.suppress(termios.error, OSError, ValueError):
            self._saved = termios.tcgetattr(sys.stdin.fileno())
        readline.set_history_length(HISTORY_LINES)
        if history is not None:
            fd = os.open(history, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            with contextlib.suppress(OSError):
                os.chmod(history, 0o600)
                readline.read_history_file(str(history))

    def read(self) -> str | None:
        """The next line (without its newline), or ``None`` at end of input (Ctrl-D)."""
        with self._lock:
            self._waiting = True
        try:
            line = input(self.text)
        except EOFError:
            return None
        finally:
            with self._lock:
                self._waiting = False
        if line.strip() and self.history is not None:
            with contextlib.suppress(OSError):
                self._readline.append_history_file(1, str(self.history))
                self._readline.set_history_length(HISTORY_LINES)
        return line

    def print_above(self, text: str) -> None:
        """Print ``text`` (already escaped) above the prompt and redraw the prompt."""
        with self._lock:
            if self._waiting and not self._closed:
                typed = self._readline.get_line_buffer()
                self._out.write(f"{_CLEAR_LINE}{text}\n{self.text}{typed}")
            else:
                self._out.write(text + "\n")
            self._out.flush()

    def close(self) -> None:
        """Stop redrawing the prompt, clear it, and restore the terminal's settings."""
        import termios

        with self._lock:
            self._closed = True
            if self._waiting:
                self._out.write(_CLEAR_LINE)
                self._out.flush()
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError, ValueError):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
