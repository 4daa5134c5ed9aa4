"""The message catalogue's files and the notebooks' translated narrative (helpers.text)."""

from __future__ import annotations

import nbformat
import pytest
import yaml

from helpers import text
from helpers.text import notebook_text


def _notebook(*markdown: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(m) for m in markdown] + [nbformat.v4.new_code_cell("x = 1")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell{i}"
    return nb


@pytest.fixture
def translations(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_text, "TRANSLATIONS_DIR", tmp_path)
    return tmp_path


def test_catalogue_merges_the_language_files_and_refuses_a_name_defined_twice(tmp_path, monkeypatch):
    (tmp_path / "en").mkdir()
    (tmp_path / "en.yaml").write_text("page:\n  title: Title\n", encoding="utf-8")
    (tmp_path / "en" / "clv.yaml").write_text("clv:\n  total: 'Total {value}'\n", encoding="utf-8")
    monkeypatch.setattr(text, "CATALOGUE_DIR", tmp_path)
    text.catalogue.cache_clear()
    try:
        assert text.catalogue("en") == {"page.title": "Title", "clv.total": "Total {value}"}
        t = text.Text("en")
        assert t("clv.total", value="¥3") == "Total ¥3"
        (tmp_path / "en" / "other.yaml").write_text("page:\n  x: y\n", encoding="utf-8")
        text.catalogue.cache_clear()
        with pytest.raises(ValueError, match="'page' is already defined"):
            text.catalogue("en")
    finally:
        text.catalogue.cache_clear()


def test_plural_picks_one_or_other(tmp_path, monkeypatch):
    (tmp_path / "en.yaml").write_text("n:\n  customers:\n    one: '{n} customer'\n    other: '{n} customers'\n")
    monkeypatch.setattr(text, "CATALOGUE_DIR", tmp_path)
    text.catalogue.cache_clear()
    try:
        t = text.Text("en")
        assert [t.plural("n.customers", k) for k in (0, 1, 2)] == ["0 customers", "1 customer", "2 customers"]
    finally:
        text.catalogue.cache_clear()


def test_translate_replaces_current_cells_only(translations):
    nb = _notebook("# 1. Title", "Plain words.", "Changed since.")
    entries = {"cell0": {"source": notebook_text.source_hash("# 1. Title\n"), "text": "# 1. 标题\n"},
               "cell2": {"source": notebook_text.source_hash("Before the change."), "text": "旧的。"},
               "gone": {"source": "0" * 12, "text": "不再有的。"}}
    (translations / "04_x.zh.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    assert notebook_text.status(nb, "04_x", "zh") == {"ok": ["cell0"], "stale": ["cell2"], "missing": ["cell1"],
                                                      "orphan": ["gone"]}
    out = notebook_text.translate(nb, "04_x", "zh")
    assert [c.source for c in out.cells] == ["# 1. 标题", "Plain words.", "Changed since.", "x = 1"]
    assert notebook_text.translate(_notebook("# 1. Title"), "04_x", "en").cells[0].source == "# 1. Title"


def test_an_entry_without_its_hash_is_refused(translations):
    (translations / "04_x.zh.yaml").write_text("cell0:\n  text: 标题\n", encoding="utf-8")
    with pytest.raises(ValueError, match="04_x.zh.yaml: entry 'cell0' needs a 'source' hash"):
        notebook_text.load("04_x", "zh")


def test_source_hash_ignores_surrounding_whitespace_only():
    assert notebook_text.source_hash("  # A\n\n") == notebook_text.source_hash("# A")
    assert notebook_text.source_hash("# A") != notebook_text.source_hash("# B")
    assert notebook_text.source_hash("# A") == "77ac5df335bc"  # sha1 of "# A", first 12 hex: stored files depend on it
