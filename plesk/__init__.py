"""Plesk support: detection, the Plesk Firewall CLI, a backend that blocks through Plesk's
custom rules (Plesk's apply rebuilds iptables and wipes plain rules), and the log files an
OSSEC/Wazuh agent should monitor on a Plesk server."""
