from __future__ import annotations

import os
from pathlib import Path

import pytest

from activeresponse import config
from activeresponse.errors import ConfigError


def test_defaults_when_default_file_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(config, "DEFAULT_PATH", "/nonexistent/config.toml")
    cfg = config.load()
    assert cfg.default_timeout == 600 and cfg.backend == "auto"


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(str(tmp_path / "nope.toml"))


def write(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_values_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'default_timeout = 30\nallowlist = ["192.0.2.0/24"]\n')
    monkeypatch.setenv(config.ENV_VAR, path)
    cfg = config.load()
    assert cfg.default_timeout == 30 and cfg.allowlist == ["192.0.2.0/24"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default_timout = 30\n", "unknown setting"),
        ('default_timeout = "30"\n', "must be int"),
        ("default_timeout = true\n", "must be int"),
        ("default_timeout = 0\n", "positive"),
        ('backend = "pf"\n', "one of"),
        ("allowlist = [1]\n", "list of strings"),
        ("widest_block_v4 = 40\n", "prefix"),
        ("this is not toml", "invalid TOML"),
    ],
)
def test_bad_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, text))


def test_unsafe_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="writable by group or others"):
        config.load(write(tmp_path, "default_timeout = 30\n", 0o666))
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "config.toml")
    with pytest.raises(ConfigError, match="symlink"):
        config.load(str(link))


def test_example_config_documents_every_key_with_its_default() -> None:
    example = Path(__file__).parents[2] / "packaging" / "config.example.toml"
    text = example.read_text()
    import tomllib

    parsed = tomllib.loads(
        "\n".join(
            line.removeprefix("# ")
            for line in text.splitlines()
            if line.startswith("# ") and " = " in line
        )
    )
    for key, (default, _types) in config.DEFAULTS.items():
        assert key in parsed, f"{key} is not documented in config.example.toml"
        assert parsed[key] == default, key
