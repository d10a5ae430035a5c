"""The file handler of our log (imported only once a record is emitted)."""

from __future__ import annotations

import logging

from .fileutil import append_line


class SafeFileHandler(logging.Handler):
    """One O_APPEND write per record (records from concurrent processes never
    interleave), newlines escaped so one record is one line, never following a symlink."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            append_line(self.path, text, 0o640)
        except Exception:  # logging must never break a block
            self.handleError(record)
