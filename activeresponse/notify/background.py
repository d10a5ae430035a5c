"""The detached sender firewall-drop starts after a block (notify.kick): its own
session, stdio on /dev/null, so the agent's caller never waits for it."""

from __future__ import annotations

import os

from .. import config as config_module
from .. import errors, logsetup
from ..logsetup import get_logger

log = get_logger(__name__)


def main(config_path: str = "") -> int:
    os.umask(0o077)
    try:
        cfg = config_module.load(config_path or None)
    except errors.ActiveResponseError:
        return errors.USAGE  # firewall-drop loaded the same file a moment ago: rare
    logsetup.configure(cfg.log_file, cfg.log_level)
    try:
        from .deliver import run_background

        run_background(cfg)
    except Exception:
        log.exception("background notification sender failed")
        return errors.FAILURE
    return errors.OK
