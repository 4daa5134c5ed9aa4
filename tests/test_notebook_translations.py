"""Every notebook's narrative has a current translation in every language besides English
(helpers/text/notebooks/<notebook>.<language>.yaml; see helpers.text.notebook_text)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from helpers.text import DEFAULT_LANGUAGE, LANGUAGES, notebook_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
OTHER_LANGUAGES = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
SCRIPT = {"zh": re.compile(r"[\u4e00-\u9fff]")}  # a translation is written in its language's script
NUMBERED_HEADING = re.compile(r"^(#+)\s*(\d+(?:\.\d+)*)\.?\s", re.M)


def _markdown(path: Path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_markdown_cell_has_a_current_translation(path, language):
    states = notebook_text.status(nbformat.read(path, as_version=4), path.stem, language)
    todo = {state: ids for state, ids in states.items() if state != "ok" and ids}
    assert not todo, (f"{notebook_text.translation_file(path.stem, language)}: {todo}; "
                      f"python -m helpers.text.notebook_text {path.relative_to(ROOT)} {language} lists them")


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_translations_are_in_the_language_and_keep_the_section_numbers(path, language):
    entries = notebook_text.load(path.stem, language)
    for cell in _markdown(path):
        translated = entries.get(cell.id, {}).get("text", "")
        assert SCRIPT[language].search(translated), f"{path.stem} cell {cell.id}: no {language} text"
        # the summary page links to numbered sections (#3.-...): same levels, same numbers
        assert NUMBERED_HEADING.findall(translated) == NUMBERED_HEADING.findall(cell.source), (path.stem, cell.id)
