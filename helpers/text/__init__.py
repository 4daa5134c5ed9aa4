"""Words of the stakeholder pages, per language: one message catalogue per language.

``helpers/text/en.yaml`` and ``helpers/text/zh.yaml`` hold every word the run summary
(``html/summary.html``) and the outputs index show, under the same dotted keys (a test checks
both catalogues have the same keys, and that every key the code and templates use exists).
Numbers, money, dates and intervals are written by :mod:`helpers.text.formats`, whose
patterns ("{value} pp", "{value}个百分点") come from the catalogue too.

Presentation layer: this package reads metrics already computed; it computes no statistic.

Still to move here (issue 14, second half): the sentences the notebooks print, which the
statistics modules write in English today.
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


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """The flat {dotted key: message} catalogue of a language."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: the catalogues are {', '.join(LANGUAGES)}")
    raw = yaml.safe_load((CATALOGUE_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    return dict(_flatten(raw))


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
    """``t("summary.title", brand=...)``: the message of one language with its values filled in."""

    def __init__(self, language: str = DEFAULT_LANGUAGE):
        self.language = language
        self.messages = catalogue(language)

    def __call__(self, key: str, **values) -> str:
        try:
            message = self.messages[key]
        except KeyError:
            raise CatalogueError(f"{key!r} is not in the {self.language} catalogue "
                                 f"({CATALOGUE_DIR / (self.language + '.yaml')})") from None
        return message.format(**values)

    def has(self, key: str) -> bool:
        return key in self.messages


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
