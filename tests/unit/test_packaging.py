"""The distribution ships every package (a wheel install once missed one)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])  # fmt: skip
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("activeresponse", "plesk")
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert on_disk | {"activeresponse.packaging"} == listed
