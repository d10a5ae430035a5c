"""The object every command receives: configuration and runtime, built on first use."""

from __future__ import annotations

from ..config import Config, load
from ..operations import Runtime


class App:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None
        self._runtime: Runtime | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load(self.config_path)
            from ..logsetup import configure

            configure(self._config.log_file, self._config.log_level)
        return self._config

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime(self.config)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
