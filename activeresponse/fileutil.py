"""Safe file handling for the files we own: atomic writes, tight modes, no symlinks.

We run as root and write into directories an attacker may be able to influence, so
nothing here follows a symlink planted where one of our files should be.
"""

from __future__ import annotations

import contextlib
import os
import stat

from .errors import StateError


def ensure_dir(path: str, mode: int = 0o700) -> None:
    """Create ``path`` (and parents) with ``mode`` if missing; refuse a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(path.rstrip("/"))
        if parent and parent != path:
            ensure_dir(parent, 0o755)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, mode)
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise StateError(f"{path} is not a directory (or is a symlink); refusing to use it")


def check_private(path: str, *, what: str) -> None:
    """Refuse a file others could have tampered with: a symlink, or writable by group or
    world, or owned by someone other than us or root."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise StateError(f"{what} {path} is a symlink; refusing to use it")
    if st.st_mode & 0o022:
        raise StateError(
            f"{what} {path} is writable by group or others (mode {st.st_mode & 0o777:o}); "
            f"fix it with: chmod go-w {path}"
        )
    if st.st_uid not in (0, os.geteuid()):
        raise StateError(f"{what} {path} is owned by uid {st.st_uid}, not root; refusing it")


def write_atomic(
    path: str, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename); with
    ``owner`` (uid, gid), the new file gets that owner before it takes the name."""
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def append_line(path: str, line: str, mode: int = 0o640) -> None:
    """Append one line with a single O_APPEND write (lines from concurrent writers never
    interleave); create the file with ``mode``; never follow a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, (line + "\n").encode("utf-8", "backslashreplace"))
    finally:
        os.close(fd)
