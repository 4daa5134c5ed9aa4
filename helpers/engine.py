"""The run's engine tables: what a run computes from the raw sources once, stored for every
later query and notebook (DESIGN §3 "clean once, read everywhere").

A :class:`TableStore` materializes an Ibis expression and hands back a table that reads the
stored copy. With a folder (a run's ``engine/``) the copy is a Parquet file, written by the
engine itself and read back by it: any notebook of the run — a separate kernel, or the same
kernel after a reset — opens it without re-reading or re-cleaning the raw files, and DuckDB reads
only the columns and row groups a query needs. Without a folder (unit tests on a few rows) the
copy is a temporary table of the connection.

Parquet rather than a DuckDB database file: every engine reads Parquet (Spark, a warehouse's
external tables, pandas for an analyst), a file per table can be written atomically, and no
process holds a lock on it between notebooks.

The store is stamped with what it was made from (params, period end, source files' sizes and
times, the data-layer code); a store made from anything else is cleared and rebuilt, so an
interactive folder never serves tables of an earlier version of the data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path

import ibis.expr.types as ir

from helpers import config

STAMP_FILE = "store.json"
# Source files of the data layer: a change to how rows are mapped or cleaned invalidates stores.
_CODE_FILES = ("sources.py", "audit.py", "engine.py")
_TEMP_IDS = itertools.count()


def _code_fingerprint() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def source_stamp(params: config.Params) -> dict:
    """What the stored tables were made from: cheap to compute (file sizes and times, not
    contents), so a notebook can check it on every start."""
    files = {}
    for kind in ("orders", "customers", "interactions", "campaigns"):
        for spec in getattr(params.sources, kind):
            key = f"{kind}/{spec.name}"
            if spec.path:
                path = config.resolve_path(spec.path, params)
                st = path.stat() if path.exists() else None
                files[key] = [str(path), st.st_size, st.st_mtime_ns] if st else [str(path), None, None]
            else:
                files[key] = [spec.table or "", spec.query or ""]
    return {"params": config.params_fingerprint(params), "sources": files, "code": _code_fingerprint()}


class TableStore:
    """Materialized tables of one run, by name."""

    def __init__(self, con, folder: Path | None = None, stamp: dict | None = None):
        self.con = con
        self.folder = Path(folder) if folder is not None else None
        self._tables: dict[str, ir.Table] = {}
        if self.folder is not None:
            self._check_stamp(stamp or {})

    # ------------------------------------------------------------ the stamp
    def _check_stamp(self, stamp: dict) -> None:
        target = self.folder / STAMP_FILE
        if target.exists():
            try:
                current = json.loads(target.read_text(encoding="utf-8")).get("stamp")
            except (OSError, ValueError):
                current = None
            if current == stamp:
                return
            shutil.rmtree(self.folder)  # made from other inputs: never serve it
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_meta({"stamp": stamp, "meta": {}})

    def _read_meta(self) -> dict:
        return json.loads((self.folder / STAMP_FILE).read_text(encoding="utf-8"))

    def _write_meta(self, content: dict) -> None:
        config.atomic_write_text(self.folder / STAMP_FILE, json.dumps(content, indent=1, default=str))

    def meta(self, key: str):
        """Small results stored beside the tables (e.g. the reconciliation), or None."""
        if self.folder is None:
            return None
        return self._read_meta()["meta"].get(key)

    def set_meta(self, key: str, value) -> None:
        if self.folder is None:
            return
        content = self._read_meta()
        content["meta"][key] = value
        self._write_meta(content)

    # ------------------------------------------------------------ tables
    def path(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{name}.parquet"

    def get(self, name: str) -> ir.Table | None:
        """The stored table, or None when it has not been made."""
        if name in self._tables:
            return self._tables[name]
        path = self.path(name)
        if path is None or not path.exists():
            return None
        table = self.con.read_parquet(path, table_name=f"_wb_{name}_{os.getpid()}_{next(_TEMP_IDS)}")
        self._tables[name] = table
        return table

    def put(self, name: str, expr: ir.Table) -> ir.Table:
        """Compute ``expr`` once into the store and return the stored table."""
        path = self.path(name)
        if path is None:
            table = self.con.create_table(f"_wb_{name}_{os.getpid()}_{next(_TEMP_IDS)}", obj=expr, temp=True)
        else:
            config.atomic_write(path, lambda tmp: self.con.to_parquet(expr, tmp))
            self._tables.pop(name, None)
            table = self.get(name)
        self._tables[name] = table
        return table

    def get_or_put(self, name: str, make) -> ir.Table:
        """The stored table; made by ``make()`` (an expression) the first time."""
        table = self.get(name)
        return table if table is not None else self.put(name, make())

    def remove(self) -> None:
        """Delete the stored files (the runner does this when a run ends, unless asked to keep)."""
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)
