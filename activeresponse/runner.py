"""The one place that runs external commands.

Commands are argv lists (never a shell), run with ``LC_ALL=C`` so their output can be
parsed, logged at debug level, and a failure becomes a typed :class:`CommandError`.

Built on ``os.posix_spawn`` with memfd-backed stdin/stdout/stderr rather than
``subprocess``: the agent's executable runs once per alert and ``subprocess`` (with the
threading, signal and selectors machinery it imports) costs several milliseconds of its
start-up. memfds never fill up, so there is no pipe deadlock to manage.
"""

from __future__ import annotations

import os
import time

from .errors import CommandError
from .logsetup import get_logger

log = get_logger(__name__)

# execd starts us with a minimal PATH; the firewall tools live in sbin.
_SBIN = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class Result:
    """What a finished command returned."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"Result({self.returncode}, {len(self.stdout)} bytes out, {self.stderr!r})"


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every external command gets: ours, C locale, sbin on PATH."""
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    path = [p for p in env.get("PATH", "").split(":") if p]
    env["PATH"] = ":".join(path + [p for p in _SBIN if p not in path])
    if extra:
        env.update(extra)
    return env


def which(program: str, env: dict[str, str] | None = None) -> str | None:
    """Full path of ``program`` on the command PATH, or None."""
    if "/" in program:
        return program if os.access(program, os.X_OK) else None
    for directory in (env or command_env())["PATH"].split(":"):
        path = os.path.join(directory, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name)  # close-on-exec; dup2 onto 0/1/2 clears that for the child
    if data:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)


def _wait(pid: int, timeout: float) -> int | None:
    """Exit code of ``pid``, or None (after killing it) if it outlived ``timeout``.
    Woken by a pidfd the moment it exits (Linux 5.3+); polling otherwise."""
    if hasattr(os, "pidfd_open"):
        import select

        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                exited = bool(poller.poll(timeout * 1000))
            finally:
                os.close(fd)
            if not exited:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return None
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def run(
    argv: list[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Result:
    """Run ``argv`` (``env``: extra variables); raise :class:`CommandError` if it cannot
    start, times out or (with ``check``) exits non-zero."""
    full_env = command_env(env)
    path = which(argv[0], full_env)
    if path is None:
        raise CommandError(argv, 127, f"command not found: {argv[0]}")
    if log.isEnabledFor(log.DEBUG):
        size = f" <{len(input)} bytes on stdin>" if input else ""
        log.debug("run: %s%s", " ".join(argv), size)
    fds = [_memfd("stdin", input.encode() if input else b""), _memfd("stdout"), _memfd("stderr")]
    try:
        try:
            pid = os.posix_spawn(
                path,
                argv,
                full_env,
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(fds)],
            )
        except OSError as exc:
            raise CommandError(argv, 126, f"cannot run {path}: {exc.strerror}") from None
        code = _wait(pid, timeout)
        stdout, stderr = _read_all(fds[1]), _read_all(fds[2])
    finally:
        for fd in fds:
            os.close(fd)
    if code is None:
        raise CommandError(argv, None, f"no answer after {timeout:g}s")
    if check and code != 0:
        log.debug("run: %s exited %d: %s", argv[0], code, stderr.strip())
        raise CommandError(argv, code, stderr)
    return Result(code, stdout, stderr)


def spawn_detached(argv: list[str], *, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session with stdin/stdout/stderr on /dev/null and do not
    wait for it: it holds none of our pipes (the agent's caller sees our exit at once),
    and our exit or our process group's signals do not end it. Returns its pid."""
    full_env = command_env(env)
    path = which(argv[0], full_env)
    if path is None:
        raise CommandError(argv, 127, f"command not found: {argv[0]}")
    if log.isEnabledFor(log.DEBUG):
        log.debug("spawn (detached): %s", " ".join(argv))
    null = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    try:
        return os.posix_spawn(path, argv, full_env, file_actions=null, setsid=True)
    except OSError as exc:
        raise CommandError(argv, 126, f"cannot run {path}: {exc.strerror}") from None
