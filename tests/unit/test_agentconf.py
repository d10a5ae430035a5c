from __future__ import annotations

import ipaddress
from pathlib import Path

from activeresponse import agentconf

CONF = """<!-- <client><server-ip>10.9.9.9</server-ip></client> commented out -->
<ossec_config>
  <client>
    <server-ip>203.0.113.50</server-ip>
  </client>
  <global><address>198.51.100.1</address></global>
</ossec_config>
<ossec_config>
  <client>
    <server>
      <address>msm</address>
      <port>1514</port>
    </server>
    <server-hostname>manager.example</server-hostname>
  </client>
</ossec_config>
"""

HOSTS = """127.0.0.1 localhost
# 203.0.113.99 msm
49.128.58.72 msm  # the seed's manual alias
203.0.113.77 other Manager.Example
"""


def test_manager_names_in_client_sections_only() -> None:
    assert agentconf.manager_names(CONF) == ["203.0.113.50", "msm", "manager.example"]


def test_manager_addresses(tmp_path: Path) -> None:
    root = tmp_path / "ossec"
    (root / "etc").mkdir(parents=True)
    (root / "etc/ossec.conf").write_text(CONF)
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    found = agentconf.manager_addresses(agentconf.AgentTree(str(root)), str(hosts))
    assert found == {
        ipaddress.ip_address(a) for a in ("203.0.113.50", "49.128.58.72", "203.0.113.77")
    }


def test_tree_of_executable() -> None:
    tree = agentconf.tree_of_executable("/var/ossec/active-response/bin/firewall-drop.sh")
    assert tree is not None and tree.root == "/var/ossec"
    assert tree.ar_log == "/var/ossec/logs/active-responses.log"
    assert agentconf.tree_of_executable("/usr/local/bin/firewall-drop") is None


def test_ar_timeout() -> None:
    text = (
        "restart-ossec0 - restart-ossec.sh - 0\n"
        "firewall-drop600 - firewall-drop.sh - 600\n"
        "firewall-drop3600 - firewall-drop.sh - 3600\n"
        "firewall-drop0 - firewall-drop - 0\n"
        "garbage line\n"
    )
    assert agentconf.ar_timeout(text, "firewall-drop.sh") == 3600
    assert agentconf.ar_timeout(text, "firewall-drop") is None
    assert agentconf.ar_timeout("", "firewall-drop.sh") is None


def test_repeated_offenders() -> None:
    text = (
        "<ossec_config><active-response>\n"
        "  <repeated_offenders>30, 60,120</repeated_offenders>\n"
        "</active-response></ossec_config>\n"
        "<!-- <active-response><repeated_offenders>1</repeated_offenders></active-response> -->"
    )
    assert agentconf.repeated_offenders(text) == [1800, 3600, 7200]
    assert agentconf.repeated_offenders("<ossec_config></ossec_config>") == []
    bad = "<active-response><repeated_offenders>1,x</repeated_offenders></active-response>"
    assert agentconf.repeated_offenders(bad) == []
