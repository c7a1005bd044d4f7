"""The errors Quorum reports to people, and the exit code each one ends the command with.

Everything a user can cause (a bad config, an unknown model, an unreadable file, an empty
question) or the machine can cause (an unusable history database, a config file that cannot be
written) is a `QuorumError`: its message is complete and fit for the terminal, and its
`exit_code` is what `quorum` exits with. The command line catches only these. Any other
exception is a bug in Quorum and is reported as one (with the log's path), never dressed up as
a user error.

This module imports nothing from Quorum: every layer may raise these.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class QuorumError(Exception):
    """A problem to report to the user in its own words; `exit_code` says how the command ends."""

    exit_code = EXIT_FAILED


class UsageError(QuorumError):
    """What was asked cannot be done as asked: a bad flag, model, stance, file or question."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration problem: where it is (file, key path) and why, ready for the terminal."""

    def __init__(self, reason: str, *, file: object | None = None, key: str | None = None) -> None:
        self.reason, self.file, self.key = reason, file, key
        super().__init__(self.render())

    def render(self) -> str:
        lines = ["configuration error"]
        if self.file:
            lines.append(f"  file: {self.file}")
        if self.key:
            lines.append(f"  key:  {self.key}")
        lines.append(f"  why:  {self.reason}")
        return "\n".join(lines)


class UnknownModelError(UsageError):
    """An alias the catalog does not know; the message names the closest ones."""


class StanceError(UsageError):
    """A stance word that is not for, against, neutral or one of their synonyms."""


class PromptError(UsageError):
    """A base prompt that does not hold exactly one `{stance_prompt}` placeholder."""


class AttachmentError(UsageError):
    """A file that cannot be attached, with a message naming it and why."""


class StoreError(QuorumError):
    """The history database cannot be used; the message says which file and why."""


class UserConfigError(QuorumError):
    """The user's config file cannot be updated; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot update {path}: {reason}")
