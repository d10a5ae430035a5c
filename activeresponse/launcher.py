"""The small executable installed into an agent's ``active-response/bin/``.

It runs our interpreter with ``-IS``: isolated from the caller's environment
(``PYTHONPATH`` and friends cannot inject code into a root process started by execd)
and without ``site`` processing, which alone can cost more than the block itself. The
package's location is written into the file, so it imports exactly the installed code.
"""

from __future__ import annotations

import os
import sys

import activeresponse


def package_parent() -> str:
    """The directory holding the ``activeresponse`` package (site-packages or a checkout)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(activeresponse.__file__)))


def _extra_paths() -> list[str]:
    """Directories of the agent path's dependencies (tomli on Python < 3.11)."""
    if sys.version_info >= (3, 11):
        return []
    import tomli  # type: ignore[import-not-found]

    return [os.path.dirname(os.path.dirname(os.path.abspath(tomli.__file__)))]


def launcher_text(python: str | None = None) -> str:
    paths = [package_parent(), *_extra_paths()]
    return (
        f"#!{python or sys.executable} -IS\n"
        "# activeresponse firewall-drop for OSSEC/Wazuh agents (written by activeresponse).\n"
        "import sys\n"
        f"sys.path[:0] = {paths!r}\n"
        "from activeresponse.agent import main\n"
        "sys.exit(main())\n"
    )


def write_launcher(path: str, mode: int = 0o750, python: str | None = None) -> None:
    from .fileutil import write_atomic

    write_atomic(path, launcher_text(python).encode(), mode)
