"""Exceptions of the core. Every message says what happened and, where it helps, what to do next."""

from __future__ import annotations

from typing import Any


class EktpError(Exception):
    """Base class of every error ektp raises on purpose."""


class InvalidValue(EktpError, ValueError):
    """A domain value was refused at construction; names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r} is not valid: {reason}")


class IllegalTransition(EktpError):
    """A state change that the state machine does not allow; nothing was changed."""

    def __init__(self, kind: str, subject_id: str, current: str, requested: str) -> None:
        self.kind = kind
        self.subject_id = subject_id
        self.current = current
        self.requested = requested
        super().__init__(f"{kind} {subject_id} cannot go from {current} to {requested}; nothing was changed")


class NotFound(EktpError, LookupError):
    """A record that was asked for does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}")


class Conflict(EktpError):
    """The request would duplicate or contradict data already stored; nothing was changed."""


class ValidationFailed(EktpError):
    """Validation hooks found problems with a record; nothing was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("validation failed: " + "; ".join(problems))


class ConfigError(EktpError):
    """A profile or deployment file is wrong; names the file, the key and what was expected."""

    def __init__(self, path: str, key: str, expected: str, got: Any = None) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        detail = f" (got {got!r})" if got is not None else ""
        super().__init__(f"{path}: key '{key}': expected {expected}{detail}")


class DeploymentNotFound(EktpError):
    """No deployment folder could be found for a command that needs one."""


class PluginError(EktpError):
    """A plugin could not be loaded, or a profile asks for one that is missing or broken."""
