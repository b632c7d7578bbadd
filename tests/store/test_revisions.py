"""The store's revision checks without Alembic: the head read from the migration files and
the current revision read from the version table agree with what Alembic says."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext

from hotline_ops.errors import StoreError
from hotline_ops.store.db import Store, head_revision
from tests.support.migrations import HEAD


def write_versions(folder: Path, chain: dict[str, str]) -> Path:
    """One file per revision; ``chain`` maps a revision to its down_revision source text."""
    folder.mkdir()
    for revision, down in chain.items():
        (folder / f"{revision}_m.py").write_text(
            f'"""m"""\nfrom alembic import op\n\nrevision: str = "{revision}"\n'
            f"down_revision = {down}\nbranch_labels = None\n\n\ndef upgrade():\n    op.f('x')\n"
        )
    return folder


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    assert head_revision() == HEAD


def test_the_head_follows_the_chain_not_the_file_order(tmp_path: Path) -> None:
    folder = write_versions(tmp_path / "v", {"a1": "None", "c3": '"a1"', "b2": '"c3"'})
    assert head_revision(folder) == "b2"


def test_a_merge_names_both_parents(tmp_path: Path) -> None:
    chain = {"a1": "None", "b2": '"a1"', "c3": '"a1"', "d4": '("b2", "c3")'}
    assert head_revision(write_versions(tmp_path / "v", chain)) == "d4"


def test_two_heads_are_refused(tmp_path: Path) -> None:
    folder = write_versions(tmp_path / "v", {"a1": "None", "b2": '"a1"', "c3": '"a1"'})
    with pytest.raises(StoreError, match=r"migrations must have one head, found \['b2', 'c3'\]"):
        head_revision(folder)


@pytest.fixture
def store(store_url: str):
    store = Store(store_url)
    yield store
    store.dispose()


def alembic_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_a_fresh_store_has_no_revision_for_both(store: Store) -> None:
    assert (store.revision(), alembic_revision(store)) == (None, None)


def test_a_migrated_store_has_the_head_for_both(store: Store) -> None:
    store.upgrade()
    assert (store.revision(), alembic_revision(store)) == (HEAD, HEAD)


def test_an_empty_version_table_is_no_revision(store: Store) -> None:
    store.upgrade()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
    assert (store.revision(), alembic_revision(store)) == (None, None)


def test_two_rows_in_the_version_table_are_refused(store: Store) -> None:
    store.upgrade()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('zz99')")
    with pytest.raises(StoreError, match=f"store has more than one revision: {HEAD}, zz99"):
        store.revision()
