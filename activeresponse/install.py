"""``activeresponse install`` / ``uninstall``: put our executable into an OSSEC/Wazuh
agent, and the expiry and boot-restore jobs into cron and systemd.

Everything written is recorded in a manifest (with a hash per file); ``uninstall``
restores what we backed up and removes only what we wrote (a file an admin has since
edited is kept, with a warning). ``--root`` installs into a staging tree, for packagers
and tests; then no service manager is touched.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import sys
from importlib.resources import files

from .errors import UsageError
from .fileutil import ensure_dir, write_atomic
from .launcher import launcher_text
from .logsetup import get_logger
from .runner import run, which

log = get_logger(__name__)

EXECUTABLES = ("firewall-drop.sh", "firewall-drop")  # OSSEC's name, Wazuh's name
BACKUP_SUFFIX = ".activeresponse-orig"
UNITS = (
    "activeresponse-expire.service",
    "activeresponse-expire.timer",
    "activeresponse-restore.service",
)
MANIFEST = "var/lib/activeresponse/install-manifest.json"


def _template(*parts: str) -> str:
    return files("activeresponse.packaging").joinpath(*parts).read_text()


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def cli_path() -> str:
    """The ``activeresponse`` program that belongs to this interpreter."""
    beside = os.path.join(os.path.dirname(sys.executable), "activeresponse")
    return beside if os.access(beside, os.X_OK) else (which("activeresponse") or beside)


def agent_group(agent_root: str, wanted: str | None) -> tuple[str, int]:
    """The agent's group: ``wanted``, else wazuh for a Wazuh agent, else ossec; root
    (gid 0) when the group does not exist here (e.g. a staging tree)."""
    if wanted:
        try:
            return wanted, grp.getgrnam(wanted).gr_gid
        except KeyError:
            raise UsageError(f"no group named {wanted!r} on this system") from None
    wazuh = os.path.exists(os.path.join(agent_root, "bin", "wazuh-control"))
    for name in ("wazuh", "ossec") if wazuh else ("ossec", "wazuh"):
        try:
            return name, grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return "root", 0


class Plan:
    """What install will write: path -> (content, mode, gid)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, int, int]] = {}


class Installer:
    def __init__(
        self,
        *,
        root: str = "/",
        agent_root: str = "/var/ossec",
        group: str | None = None,
        python: str | None = None,
        program: str | None = None,
    ) -> None:
        self.root = os.path.abspath(root)
        self.staging = self.root != "/"
        self.agent_root = agent_root
        self.agent = self._under(agent_root)
        self.group_name, self.gid = agent_group(self.agent, group)
        self.python = python or sys.executable
        self.program = program or cli_path()
        self.manifest_path = self._under("/" + MANIFEST)

    def _under(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/")) if self.staging else path

    def plan(self) -> Plan:
        plan = Plan()
        launcher = launcher_text(self.python).encode()
        for name in EXECUTABLES:
            plan.files[os.path.join(self.agent, "active-response", "bin", name)] = (
                launcher, 0o750, self.gid)  # fmt: skip
        subst = self.program
        plan.files[self._under("/etc/cron.d/activeresponse")] = (
            _template("cron.d", "activeresponse").replace("@ACTIVERESPONSE@", subst).encode(),
            0o644, 0)  # fmt: skip
        for unit in UNITS:
            text = _template("systemd", unit).replace("@ACTIVERESPONSE@", subst)
            plan.files[self._under(f"/etc/systemd/system/{unit}")] = (text.encode(), 0o644, 0)
        config = self._under("/etc/activeresponse/config.toml")
        if not os.path.exists(config):
            plan.files[config] = (_template("config.example.toml").encode(), 0o600, 0)
        return plan

    # -- install --------------------------------------------------------------------------

    def install(self) -> list[str]:
        """Install; returns one line per thing done."""
        bindir = os.path.join(self.agent, "active-response", "bin")
        if not self.staging and not os.path.isdir(bindir):
            raise UsageError(f"no OSSEC/Wazuh agent at {self.agent_root} "
                             f"({bindir} missing); give --agent-root")  # fmt: skip
        previous = self._load_manifest()
        manifest: dict = previous or {"version": 1, "files": [], "backups": [], "dirs": []}
        done: list[str] = []
        for path, (content, mode, gid) in self.plan().files.items():
            self._make_parents(path, manifest)
            ours = {f["path"] for f in manifest["files"]}
            if os.path.lexists(path) and path not in ours:
                backup = path + BACKUP_SUFFIX
                if os.path.lexists(backup):
                    raise UsageError(f"{backup} already exists; refusing to overwrite a backup")
                os.rename(path, backup)
                manifest["backups"].append({"path": path, "backup": backup})
                done.append(f"backed up {path} -> {backup}")
            write_atomic(path, content, mode)
            os.chown(path, 0, gid)
            manifest["files"] = [f for f in manifest["files"] if f["path"] != path]
            manifest["files"].append({"path": path, "sha256": hashlib.sha256(content).hexdigest()})
            done.append(f"wrote {path} ({mode:o} root:{self.group_name if gid else 'root'})")
        self._save_manifest(manifest)
        if not self.staging:
            done.extend(self._systemctl("enable"))
        return done

    def _make_parents(self, path: str, manifest: dict) -> None:
        missing = []
        parent = os.path.dirname(path)
        while not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            ensure_dir(directory, 0o755)
            manifest["dirs"].append(directory)

    def _systemctl(self, action: str) -> list[str]:
        if not os.path.isdir("/run/systemd/system") or which("systemctl") is None:
            return ["systemd is not running: the cron.d entry runs the expiry sweep"]
        run(["systemctl", "daemon-reload"])
        if action == "enable":
            run(["systemctl", "enable", "--now", "activeresponse-expire.timer"])
            run(["systemctl", "enable", "activeresponse-restore.service"])
            return ["enabled activeresponse-expire.timer and activeresponse-restore.service"]
        run(["systemctl", "disable", "--now", "activeresponse-expire.timer"], check=False)
        run(["systemctl", "disable", "activeresponse-restore.service"], check=False)
        return ["disabled activeresponse-expire.timer and activeresponse-restore.service"]

    # -- uninstall ------------------------------------------------------------------------

    def uninstall(self) -> list[str]:
        manifest = self._load_manifest()
        if manifest is None:
            raise UsageError(f"nothing to uninstall: no manifest at {self.manifest_path}")
        done: list[str] = []
        if not self.staging:
            done.extend(self._systemctl("disable"))
        for entry in manifest["files"]:
            path = entry["path"]
            if _sha256(path) not in (entry["sha256"], None):
                done.append(f"kept {path}: changed since install")
                continue
            if os.path.lexists(path):
                os.unlink(path)
                done.append(f"removed {path}")
        for entry in manifest["backups"]:
            if os.path.lexists(entry["backup"]) and not os.path.lexists(entry["path"]):
                os.rename(entry["backup"], entry["path"])
                done.append(f"restored {entry['path']}")
        os.unlink(self.manifest_path)
        for directory in sorted(set(manifest["dirs"]), key=len, reverse=True):
            with contextlib.suppress(OSError):  # not empty: something else lives there now
                os.rmdir(directory)
        return done

    # -- manifest -------------------------------------------------------------------------

    def _load_json(self, path: str) -> list | dict | None:
        try:
            with open(path) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None

    def _load_manifest(self) -> dict | None:
        data = self._load_json(self.manifest_path)
        return data if isinstance(data, dict) else None

    def _save_manifest(self, manifest: dict) -> None:
        self._make_parents(self.manifest_path, manifest)
        write_atomic(self.manifest_path, json.dumps(manifest, indent=1).encode(), 0o600)
