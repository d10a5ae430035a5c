"""Our own log (beyond active-responses.log): the standard ``logging`` module, imported
only when a record is actually emitted.

The agent's executable starts once per alert, and ``import logging`` (with the re,
enum, traceback and threading modules it pulls in) costs about a sixth of its start-up.
So modules take a :class:`LazyLogger` from :func:`get_logger`: its level test is one
comparison, and ``logging`` is imported and set up on the first record that passes it.
A routine agent block is recorded in the ledger and in active-responses.log and logs at
debug level; refusals, failures, repairs and admin actions log at info and above.
"""

from __future__ import annotations

import os

from .fileutil import ensure_dir

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR}
_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s"


class _Settings:
    file: str | None = None
    file_level = WARNING
    stderr = False  # the CLI's --verbose: every record on stderr too
    level = WARNING  # lowest level any sink wants
    ready = False


def configure(log_file: str | None = None, level: str = "info", *, stderr: bool = False) -> None:
    """Records at ``level`` and above go to ``log_file``; with ``stderr``, every record
    (debug included) goes to stderr as well. Handlers are made on first use."""
    if log_file is not None:
        _Settings.file, _Settings.file_level = log_file, LEVELS.get(level, INFO)
    _Settings.stderr = _Settings.stderr or stderr
    _Settings.level = DEBUG if _Settings.stderr else _Settings.file_level
    _Settings.ready = False


def _setup():
    import logging

    root = logging.getLogger("activeresponse")
    if _Settings.ready:
        return logging
    _Settings.ready = True
    root.propagate = False
    root.setLevel(_Settings.level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(_FORMAT)
    if _Settings.file:
        try:
            ensure_dir(os.path.dirname(_Settings.file) or ".", 0o750)
            from .logfile import SafeFileHandler

            handler = SafeFileHandler(_Settings.file)
            handler.setLevel(_Settings.file_level)
            handler.setFormatter(formatter)
            root.addHandler(handler)
        except Exception:
            pass
    if _Settings.stderr:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    return logging


class LazyLogger:
    """The subset of ``logging.Logger`` we use, without importing ``logging`` until a
    record passes the configured level."""

    DEBUG = DEBUG
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def isEnabledFor(self, level: int) -> bool:
        return level >= _Settings.level

    def log(self, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        if level >= _Settings.level:
            _setup().getLogger(self.name).log(level, msg, *args, exc_info=exc_info)

    def debug(self, msg: str, *args: object) -> None:
        self.log(DEBUG, msg, *args)

    def info(self, msg: str, *args: object) -> None:
        self.log(INFO, msg, *args)

    def warning(self, msg: str, *args: object) -> None:
        self.log(WARNING, msg, *args)

    def error(self, msg: str, *args: object) -> None:
        self.log(ERROR, msg, *args)

    def exception(self, msg: str, *args: object) -> None:
        self.log(ERROR, msg, *args, exc_info=True)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
