"""Which columns a statement's UPDATEs write (pgtune.base.updates): what the foreign-key check
weighs re-keying on. Statement texts are the workload's, so unreadable ones are refused, not guessed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.updates import MAX_TEXT, Update, updates_in


def test_updates_anywhere_in_a_statement() -> None:
    assert updates_in("UPDATE agents SET name = $1, updated_at = now() WHERE id = $2") == [
        Update(None, "agents", frozenset({"name", "updated_at"}))
    ]
    assert updates_in(
        "WITH moved AS (UPDATE letta.agents SET id = $1 WHERE id = $2 RETURNING id) SELECT * FROM moved"
    ) == [Update("letta", "agents", frozenset({"id"}))]
    assert updates_in("UPDATE t SET (a, b) = ($1, $2)") == [Update(None, "t", frozenset({"a", "b"}))]
    merged = updates_in(
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED "
        "THEN INSERT (id, v) VALUES (s.id, s.v)"
    )
    assert merged == [Update(None, "t", frozenset({"v"}))]
    assert updates_in("SELECT * FROM t WHERE updated = true") == []
    assert updates_in("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = 2") == [
        Update(None, "t", frozenset({"v"}))
    ]
    assert updates_in("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING") == []


def test_what_cannot_be_read_is_refused() -> None:
    assert updates_in("UPDATE t SET") is None
    assert updates_in("UPDATE t SET a = 1; UPDATE t SET id = 2") is None  # one statement per entry
    assert updates_in("UPDATE t SET a = 1 -- " + "x" * MAX_TEXT) is None


@given(st.text(max_size=200))
def test_any_text_gives_updates_or_none(text: str) -> None:
    found = updates_in("UPDATE t SET a = 1 WHERE b = " + text)
    assert found is None or all(isinstance(u, Update) for u in found)
