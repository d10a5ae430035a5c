"""A Plesk simulator for tests: fake product trees and a `plesk` CLI that keeps its firewall
rules in the tree and rebuilds the namespace's iptables the way Plesk's apply does."""

from .tree import FakePlesk, make_tree

__all__ = ["FakePlesk", "make_tree"]
