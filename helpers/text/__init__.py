"""Words of the stakeholder pages, per language: one message catalogue per language.

``helpers/text/en.yaml`` and ``helpers/text/zh.yaml`` hold every word the run summary
(``html/summary.html``) and the outputs index show; ``helpers/text/<language>/<concern>.yaml``
the words of each notebook's findings, charts and tables (one file per notebook concern, its
keys under one top-level name, e.g. ``clv.*``). All are one catalogue per language, under the
same dotted keys (a test checks both catalogues have the same keys, and that every key the code
and templates use exists). The notebooks' own narrative (markdown cells) is translated per cell
by :mod:`helpers.text.notebook_text`.
Numbers, money, dates and intervals are written by :mod:`helpers.text.formats`, whose
patterns ("{value} pp", "{value}个百分点") come from the catalogue too.

Presentation layer: this package reads metrics already computed; it computes no statistic.

The sentence modules beside this one (``helpers.text.audit``, ``.lifecycle``, ``.drivers``,
``.clv``, ``.tiers``, ``.campaigns``) turn each notebook's numbers into words with a
:class:`helpers.text.formats.Formats` (``run.fmt`` in a notebook).
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

import yaml

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
CATALOGUE_DIR = Path(__file__).resolve().parent


class CatalogueError(KeyError):
    """A key the catalogue of a language does not have (a test keeps this from happening)."""


def catalogue_files(language: str) -> list[Path]:
    """The files of a language's catalogue: ``<language>.yaml``, then ``<language>/*.yaml``."""
    return [CATALOGUE_DIR / f"{language}.yaml", *sorted((CATALOGUE_DIR / language).glob("*.yaml"))]


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """The flat {dotted key: message} catalogue of a language, merged from its files; a
    top-level name defined by two files is refused (each file owns its names)."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: the catalogues are {', '.join(LANGUAGES)}")
    merged: dict[str, str] = {}
    owner: dict[str, Path] = {}
    for path in catalogue_files(language):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name in raw:
            if name in owner:
                raise ValueError(f"{path}: top-level name {name!r} is already defined in {owner[name]}")
            owner[name] = path
        merged.update(_flatten(raw))
    return merged


def _flatten(node: dict, prefix: str = ""):
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, str(value)


def placeholders(message: str) -> set[str]:
    """The {names} a message expects."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


class Text:
    """``t("index.metric.clv")``: the message of one language with its values filled in."""

    def __init__(self, language: str = DEFAULT_LANGUAGE):
        self.language = language
        self.messages = catalogue(language)

    def __call__(self, key: str, /, **values) -> str:  # positional: a message may have a {key}
        try:
            message = self.messages[key]
        except KeyError:
            raise CatalogueError(f"{key!r} is not in the {self.language} catalogue "
                                 f"({CATALOGUE_DIR / self.language}[.yaml|/*.yaml])") from None
        return message.format(**values)

    def plural(self, key: str, n, /, **values) -> str:
        """``key.one`` when n is 1, else ``key.other`` (a language without plural forms gives both
        the same message); ``n`` is passed to the message as well."""
        return self(f"{key}.{'one' if n == 1 else 'other'}", n=n, **values)

    def has(self, key: str) -> bool:
        return key in self.messages


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
