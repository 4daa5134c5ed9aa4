"""The notebooks' narrative (their markdown cells) in another language.

A notebook is written in English; ``helpers/text/notebooks/<notebook>.<language>.yaml`` holds
its translation, one entry per markdown cell, keyed by the cell's id::

    6d11addf:
      source: 3f2a9c81d0b4   # source_hash of the English cell this translates
      text: |
        # 04 · 客户终身价值

The renders (helpers.render) show the translated cells; code and outputs are untouched (the
outputs' words come from the message catalogue). An entry whose ``source`` no longer matches the
English cell is stale: the English is shown instead, and a test fails until it is translated
again. ``python -m helpers.text.notebook_text notebooks/04_clv.ipynb zh`` lists the cells to
(re)translate with their hash and English text.

Headings keep the English section number ("## 3. ...") so that the summary page's links to
numbered sections (``#3.-...``) still land.

Presentation layer: reads notebooks and YAML, computes nothing.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

from helpers.text import DEFAULT_LANGUAGE, LANGUAGES

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "notebooks"


def source_hash(source: str) -> str:
    """Fingerprint of an English markdown cell (surrounding whitespace ignored)."""
    return hashlib.sha1(source.strip().encode("utf-8")).hexdigest()[:12]


def translation_file(stem: str, language: str) -> Path:
    return TRANSLATIONS_DIR / f"{stem}.{language}.yaml"


def load(stem: str, language: str) -> dict[str, dict]:
    """{cell id: {"source": hash, "text": markdown}} of one notebook and language ({} if none)."""
    path = translation_file(stem, language)
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for cell_id, entry in raw.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("source"), str) and isinstance(entry.get("text"), str)):
            raise ValueError(f"{path}: entry {cell_id!r} needs a 'source' hash and a 'text'")
    return {str(k): v for k, v in raw.items()}


def status(nb, stem: str, language: str) -> dict[str, list[str]]:
    """Cell ids by state: ``ok`` (translated, current), ``stale`` (English changed since),
    ``missing`` (no translation) and ``orphan`` (a translation of a cell no longer there)."""
    entries = load(stem, language)
    states: dict[str, list[str]] = {"ok": [], "stale": [], "missing": [], "orphan": []}
    ids = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        ids.add(cell.id)
        entry = entries.get(cell.id)
        if entry is None:
            states["missing"].append(cell.id)
        else:
            states["ok" if entry["source"] == source_hash(cell.source) else "stale"].append(cell.id)
    states["orphan"] = sorted(set(entries) - ids)
    return states


def translate(nb, stem: str, language: str):
    """The notebook with its markdown cells in ``language`` where a current translation exists
    (in place; returns nb). English, or a cell without a current translation, stays English."""
    if language == DEFAULT_LANGUAGE:
        return nb
    entries = load(stem, language)
    for cell in nb.cells:
        entry = entries.get(getattr(cell, "id", None)) if cell.cell_type == "markdown" else None
        if entry is not None and entry["source"] == source_hash(cell.source):
            cell.source = entry["text"].rstrip("\n")
    return nb


def main(argv: list[str]) -> int:
    """List the markdown cells of a notebook that need a (new) translation, as YAML to fill in."""
    import nbformat

    if len(argv) != 2 or argv[1] not in LANGUAGES:
        print("usage: python -m helpers.text.notebook_text notebooks/NN_name.ipynb zh", file=sys.stderr)
        return 2
    path = Path(argv[0])
    nb = nbformat.read(path, as_version=4)
    states = status(nb, path.stem, argv[1])
    todo = set(states["missing"]) | set(states["stale"])
    print(f"# {translation_file(path.stem, argv[1])}: {len(states['ok'])} current, {len(states['stale'])} stale, "
          f"{len(states['missing'])} missing, {len(states['orphan'])} orphan ({', '.join(states['orphan']) or '-'})")
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.id in todo:
            body = "\n".join("    " + line if line else "" for line in cell.source.strip().splitlines())
            print(f"{cell.id}:\n  source: {source_hash(cell.source)}\n  text: |\n{body}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
