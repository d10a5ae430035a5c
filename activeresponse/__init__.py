"""activeresponse: firewall active response for OSSEC and Wazuh agents."""

__version__ = "0.1.0"
