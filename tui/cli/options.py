"""What every `quorum` command shares on the command line: `--config` and `--no-project`, taken
before the command's name or after it (`quorum --config F run …` and `quorum run --config F …`
alike), and the settings they choose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.cli.logs import hide_secrets, setup_logging
from tui.config.catalog import secret_values
from tui.config.loading import load_settings
from tui.config.schema import Settings


@dataclass
class Shared:
    """The shared options as given, wherever on the command line they were."""

    config: str | None = None
    no_project: bool = False

    def settings(self, overrides: dict[str, Any] | None = None) -> Settings:
        """The settings these options choose, with the command's flags over them; their keys are
        hidden from the log from then on."""
        setup_logging()
        settings = load_settings(self.config, overrides, project=not self.no_project)
        hide_secrets(secret_values(settings))
        return settings
