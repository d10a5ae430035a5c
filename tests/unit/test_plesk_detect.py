"""Plesk detection on fake trees (never the host's own /etc/psa)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plesk_sim import make_tree

from plesk.detect import detect, firewall_active, parse_psa_conf, parse_version

CASES = [(v, layout) for v in ("11.0", "12.5", "18.0") for layout in ("debian", "rhel")]


@pytest.mark.parametrize(("version", "layout"), CASES)
def test_fake_trees(tmp_path: Path, version: str, layout: str) -> None:
    fake = make_tree(tmp_path, version, layout)
    info = detect(str(tmp_path))
    assert info.present
    assert info.version_text.startswith(version)
    assert info.layout == layout
    assert info.product_root == {"debian": "/opt/psa", "rhel": "/usr/local/psa"}[layout]
    assert info.vhosts == "/var/www/vhosts"
    assert info.split_vhost_logs == (version != "11.0")
    assert info.cli == fake.cli
    if version == "18.0":
        assert info.cli[1:] == ["ext", "firewall"]
    else:
        assert info.cli[0].endswith("/bin/modules/firewall/settings")
    assert info.firewall_installed and info.firewall_active
    assert firewall_active(str(tmp_path))
    line = info.describe()
    assert "\n" not in line
    assert f"Plesk {info.version_text}" in line and "firewall active" in line


def test_no_plesk(tmp_path: Path) -> None:
    info = detect(str(tmp_path))
    assert not info.present and info.cli is None
    assert info.describe() == "no Plesk"
    assert not firewall_active(str(tmp_path))


def test_firewall_not_installed_or_not_active(tmp_path: Path) -> None:
    make_tree(tmp_path / "a", firewall=False)
    info = detect(str(tmp_path / "a"))
    assert info.present and not info.firewall_installed and info.cli is None
    assert "firewall not installed" in info.describe()
    assert not firewall_active(str(tmp_path / "a"))
    make_tree(tmp_path / "b", "12.5", "rhel", active=False)
    info = detect(str(tmp_path / "b"))
    assert info.firewall_installed and not info.firewall_active
    assert "installed, not active" in info.describe()
    assert not firewall_active(str(tmp_path / "b"))


def test_version_file_alone_is_enough_and_cli_fills_a_missing_version(tmp_path: Path) -> None:
    fake = make_tree(tmp_path, "18.0", "rhel", psa_conf=False)
    info = detect(str(tmp_path))
    assert info.present and info.product_root == "/usr/local/psa"
    os.unlink(fake.path("/usr/local/psa/version"))
    (tmp_path / "etc/psa").mkdir(parents=True)
    (tmp_path / "etc/psa/psa.conf").write_text("PRODUCT_ROOT_D /usr/local/psa\n")
    assert detect(str(tmp_path), ask_cli=False).version is None
    info = detect(str(tmp_path))  # runs the tree's `plesk version`
    assert info.version == (18, 0, 61) and info.cli is not None


def test_custom_vhosts_dir(tmp_path: Path) -> None:
    make_tree(tmp_path)
    conf = tmp_path / "etc/psa/psa.conf"
    conf.write_text(conf.read_text().replace("/var/www/vhosts", "/srv/vhosts"))
    assert detect(str(tmp_path)).vhosts == "/srv/vhosts"


def test_parsers() -> None:
    assert parse_psa_conf(
        "# c\n\nPRODUCT_ROOT_D\t\t/opt/psa\nHTTPD_VHOSTS_D /var/www/vhosts\n"
    ) == {
        "PRODUCT_ROOT_D": "/opt/psa",
        "HTTPD_VHOSTS_D": "/var/www/vhosts",
    }
    assert parse_version("18.0.61 Debian 12.0 1800240418.12\n") == ((18, 0, 61), "Debian 12.0")
    assert parse_version("11.0.9 CentOS 6 110120608.16") == ((11, 0, 9), "CentOS 6")
    out = "Product version: Plesk Obsidian 18.0.61.5\n    OS version: Debian 12.0 x86_64\n"
    assert parse_version(out)[0] == (18, 0, 61, 5)
    assert parse_version("garbage") == (None, "")
