"""Exceptions of the core. Every message says what happened and, where it helps, what to do next.

Each error is also a :class:`~ektp_core.messages.Message` (:meth:`EktpError.as_message`), so the web
UI tells an operator in Indonesian what the CLI tells an administrator in English. Raise an error
with a message (``raise Conflict(Message("blank.already_in_ledger", serial=s))``) and ``str(error)`` is its
English rendering; an error raised with plain text renders as its class's code (``error.conflict``,
"the request contradicts data already stored") in the UI, with the text kept for the log.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ektp_core.messages import Message


class EktpError(Exception):
    """Base class of every error ektp raises on purpose.

    ``message_code`` names the class's catalogue text, used when the error was raised with plain
    text; an error raised with a :class:`Message` as its first argument says that message instead.
    """

    message_code: ClassVar[str] = "error.general"

    def __init__(self, *args: Any) -> None:
        self._said: Message | None = None
        if args and isinstance(args[0], Message):
            self._said = args[0]
            args = (str(args[0]), *args[1:])
        super().__init__(*args)

    def as_message(self) -> Message:
        """What to tell a person: the message the error was raised with, else its class's text with
        :meth:`message_params`."""
        said = getattr(self, "_said", None)
        return said if said is not None else Message(self.message_code, **self.message_params())

    def message_params(self) -> dict[str, Any]:
        """The parameters of the class's text (subclasses with structured fields give theirs)."""
        return {}


class InvalidValue(EktpError, ValueError):
    """A domain value was refused at construction; names the field and the value."""

    message_code = "error.invalid_value"

    def __init__(self, field: str, value: Any, reason: str | Message) -> None:
        self.field = field
        self.value = value
        self.reason = str(reason)
        #: The reason as a message (a plain-text reason is shown as it is).
        self.reason_message = reason if isinstance(reason, Message) else Message("text", text=reason)
        super().__init__(f"{field}: {value!r} is not valid: {reason}")

    def message_params(self) -> dict[str, Any]:
        return {"field": Message(f"field.{self.field}"), "value": str(self.value), "reason": self.reason_message}


class IllegalTransition(EktpError):
    """A state change that the state machine does not allow; nothing was changed."""

    def __init__(self, kind: str, subject_id: str, current: str, requested: str) -> None:
        self.kind = kind
        self.subject_id = subject_id
        self.current = current
        self.requested = requested
        super().__init__(f"{kind} {subject_id} cannot go from {current} to {requested}; nothing was changed")

    message_code = "error.illegal_transition"

    def message_params(self) -> dict[str, Any]:
        return {
            "kind": Message(f"kind.{self.kind}"),
            "subject": self.subject_id,
            "current": self.current,
            "requested": self.requested,
        }


class NotFound(EktpError, LookupError):
    """A record that was asked for does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}")

    message_code = "error.not_found"

    def message_params(self) -> dict[str, Any]:
        return {"kind": Message(f"kind.{self.kind}"), "key": self.key}


class Conflict(EktpError):
    """The request would duplicate or contradict data already stored; nothing was changed."""

    message_code = "error.conflict"


class ValidationFailed(EktpError):
    """Validation hooks found problems with a record; nothing was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("validation failed: " + "; ".join(problems))

    message_code = "error.validation_failed"

    def message_params(self) -> dict[str, Any]:
        return {"problems": [Message("text", text=p) for p in self.problems]}


class ConfigError(EktpError):
    """A profile or deployment file is wrong; names the file, the key and what was expected."""

    def __init__(self, path: str, key: str, expected: str, got: Any = None) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        detail = f" (got {got!r})" if got is not None else ""
        super().__init__(f"{path}: key '{key}': expected {expected}{detail}")

    message_code = "error.config"

    def message_params(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key}


class DeploymentNotFound(EktpError):
    """No deployment folder could be found for a command that needs one."""

    message_code = "error.no_deployment"


class PluginError(EktpError):
    """A plugin could not be loaded, or a profile asks for one that is missing or broken."""

    message_code = "error.plugin"


#: Characters of an error's English text kept with a stored error.
DETAIL_KEPT = 1000


def detailed(exc: BaseException) -> Message:
    """An error as a message that keeps its English text: what a log, a column or the CLI shows
    (``error.detailed`` is the English text in English), while the web UI says the error's own message
    in Indonesian. For errors stored to be read later (a packet's or a submission's last error)."""
    said = exc.as_message() if isinstance(exc, EktpError) else Message("error.general")
    # The detail is bounded here, so the stored JSON is never cut (a cut message would show as text).
    return Message("error.detailed", error=said, detail=(str(exc) or type(exc).__name__)[:DETAIL_KEPT])
