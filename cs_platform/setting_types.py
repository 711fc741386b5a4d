"""Types of environment settings: each parses a raw value or refuses it in one clear line.

A refusal names the variable, the value given (never a secret's) and what is allowed, e.g.
`MAIL_TRANSPORT='smtpp' is not one of: file, smtp`. `Setting` ties a type to a name, a default
and a description; `cs_platform.config.SETTINGS` is the table of them all.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
from cryptography.fernet import Fernet
from limits.storage import SCHEMES as LIMITER_SCHEMES


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which one and how to fix it."""


class Kind(Protocol):
    """How one setting's raw text becomes a value; `allowed` is what the documentation shows."""

    @property
    def allowed(self) -> str: ...

    def parse(self, name: str, raw: str) -> Any: ...


@dataclass(frozen=True)
class Text:
    """Any text, taken as given."""

    allowed: str = "text"

    def parse(self, name: str, raw: str) -> str:
        return raw


@dataclass(frozen=True)
class Secret:
    """Text never repeated in messages or documentation."""

    allowed: str = "secret text"

    def parse(self, name: str, raw: str) -> str:
        return raw


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words, matched without regard to case."""

    values: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return ", ".join(f"`{value}`" for value in self.values)

    def parse(self, name: str, raw: str) -> str:
        for value in self.values:
            if raw.strip().lower() == value.lower():
                return value
        raise ConfigError(f"{name}={raw!r} is not one of: {', '.join(self.values)}")


@dataclass(frozen=True)
class Integer:
    """A whole number within [minimum, maximum] (None: unbounded on that side)."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def allowed(self) -> str:
        if self.maximum is None:
            return "integer" if self.minimum is None else f"integer ≥ {self.minimum}"
        return f"integer {self.minimum}–{self.maximum}"

    def parse(self, name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is not an integer") from exc
        too_low = self.minimum is not None and value < self.minimum
        if too_low or (self.maximum is not None and value > self.maximum):
            raise ConfigError(f"{name}={raw!r} is out of range: use {self._range()}")
        return value

    def _range(self) -> str:
        if self.maximum is None:
            return f"at least {self.minimum}"
        return f"{self.minimum} to {self.maximum}"


@dataclass(frozen=True)
class Days(Integer):
    """A whole number of days, read as a duration."""

    @property
    def allowed(self) -> str:
        return super().allowed.replace("integer", "days")

    def parse(self, name: str, raw: str) -> dt.timedelta:  # type: ignore[override]
        return dt.timedelta(days=super().parse(name, raw))


@dataclass(frozen=True)
class TimeZone:
    """An IANA time zone name, e.g. `Europe/Berlin`, as the host's tz database knows it."""

    allowed: str = "IANA time zone name, e.g. `UTC`, `Europe/Berlin`, `America/New_York`"

    def parse(self, name: str, raw: str) -> str:
        value = raw.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, e.g. America
            raise ConfigError(
                f"{name}={raw!r} is not an IANA time zone name: use e.g. UTC or Europe/Berlin"
            ) from None
        return value


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
BOOLEANS |= {"0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Boolean:
    """On or off, in the usual spellings."""

    allowed: str = "`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`"

    def parse(self, name: str, raw: str) -> bool:
        try:
            return BOOLEANS[raw.strip().lower()]
        except KeyError:
            raise ConfigError(
                f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off"
            ) from None


@dataclass(frozen=True)
class CommaList:
    """Comma-separated items, stripped, empty ones dropped."""

    allowed: str = "comma-separated list"

    def parse(self, name: str, raw: str) -> list[str]:
        return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class Url:
    """An absolute URL with one of `schemes` (and a host, unless `host_optional`)."""

    schemes: tuple[str, ...]
    host_optional: bool = False
    summary: str = ""  # what the documentation shows instead of every scheme

    @property
    def allowed(self) -> str:
        return self.summary or "URL: " + ", ".join(f"`{scheme}://`" for scheme in self.schemes)

    def parse(self, name: str, raw: str) -> str:
        parts = urlsplit(raw.strip())
        if parts.scheme.lower() not in self.schemes:
            raise ConfigError(
                f"{name}={raw!r} is not a URL starting with one of: "
                + ", ".join(f"{scheme}://" for scheme in self.schemes)
            )
        if not (parts.netloc or self.host_optional):
            raise ConfigError(f"{name}={raw!r} has no host: use e.g. {parts.scheme}://host")
        return raw.strip()


LIMITER_STORAGE = Url(
    tuple(sorted(scheme for scheme in LIMITER_SCHEMES if "async" not in scheme)),
    host_optional=True,
    summary="URL: `memory://`, `redis://`, `rediss://`, `memcached://`, ... (the `limits` "
    "library's storage schemes)",
)


@dataclass(frozen=True)
class RateLimit:
    """Flask-Limiter's notation: limits separated by ';' or ','."""

    allowed: str = "rate limits, e.g. `5 per minute;20 per hour`"

    def parse(self, name: str, raw: str) -> str:
        try:
            limits.parse_many(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{name}={raw!r} is not a rate limit: use e.g. '5 per minute;20 per hour'"
            ) from exc
        return raw


@dataclass(frozen=True)
class FernetKeys:
    """Comma-separated Fernet keys, newest first (rotation); never echoed back."""

    allowed: str = "Fernet keys (urlsafe base64 of 32 bytes), comma-separated, newest first"

    def parse(self, name: str, raw: str) -> str:
        try:
            for key in raw.split(","):
                Fernet(key.strip().encode())
        except ValueError as exc:
            raise ConfigError(
                f"{name} is not a comma-separated list of Fernet keys (each urlsafe base64 of "
                "32 bytes, e.g. from `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc
        return raw


Default = Any  # a value, or a function of the instance folder for a computed one


@dataclass(frozen=True)
class Setting:
    """One environment variable: its type, default, config key and one-line description."""

    name: str
    kind: Kind
    default: Default
    description: str
    key: str | None = ""  # app.config key: "" the same as name; None: read outside load_config
    shown_default: str = ""  # the default as documented, where the value itself is unclear

    @property
    def config_key(self) -> str | None:
        return self.name if self.key == "" else self.key

    def read(self, instance_path: Path) -> Any:
        """The parsed environment value, or the default when unset or empty."""
        raw = os.environ.get(self.name, "")
        if raw.strip():
            return self.kind.parse(self.name, raw)
        return self.default(instance_path) if callable(self.default) else self.default

    def documented_default(self) -> str:
        return self.shown_default or show(self.default)


def show(value: Any) -> str:
    """A default as the documentation writes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value in ("", []):
        return "none"
    if isinstance(value, dt.timedelta):
        return str(value.days)
    return f"`{value}`" if isinstance(value, str) else str(value)


def markdown_table(settings: tuple[Setting, ...]) -> str:
    """The settings as the Markdown table of docs/configuration.md."""
    rows = ["| variable | default | allowed values | what it does |", "| --- | --- | --- | --- |"]
    for setting in settings:
        cells = (f"`{setting.name}`", setting.documented_default(), setting.kind.allowed)
        rows.append(f"| {' | '.join(cells)} | {setting.description} |")
    return "\n".join(rows) + "\n"
