"""The project's exceptions. Each carries one clear French sentence for users."""

from __future__ import annotations

from pathlib import Path


class ObservatoireError(Exception):
    """Base class: ``str(error)`` is the French message shown to users."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _where(path: Path | str | None, line: int | None = None, column: str | None = None) -> str:
    parts = []
    if path is not None:
        parts.append(f"{path}")
    if line is not None:
        parts.append(f"ligne {line}")
    if column is not None:
        parts.append(f"colonne « {column} »")
    return ", ".join(parts)


class InputError(ObservatoireError):
    """Bad input file or value: names the file, line and column when known."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = _where(path, line, column)
        super().__init__(f"{where} : {message}" if where else message)


class ConfigError(InputError):
    """Invalid project settings (observatoire.toml) or territory definitions."""


class ProjectNotFoundError(ObservatoireError):
    """No observatory project where one was expected."""

    exit_code = 2


class WarehouseError(ObservatoireError):
    """A warehouse operation failed; the warehouse was left unchanged."""
