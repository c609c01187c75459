"""Indexes against real PostgreSQL 15 and 16: semantic equality, online builds, replace, repair."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import Server

from pgtune.base.errors import PgtuneError
from pgtune.plan.model import Plan

PlanFor = Callable[[str], Plan]


@pytest.fixture
def letta(letta_tables: Server) -> Iterator[Server]:
    pg = letta_tables
    pg.sql(
        "INSERT INTO letta.organizations VALUES ('org-1', 'acme');"
        "INSERT INTO letta.agents (id, organization_id) SELECT 'agent-' || g, 'org-1' FROM generate_series(1, 5) g;"
        "INSERT INTO letta.messages (id, organization_id, agent_id, role, text, is_err, created_at) "
        "SELECT 'message-' || g, 'org-1', 'agent-' || (g % 5 + 1), 'user', 'Hello ' || g, g % 10 = 0, "
        "  CASE WHEN g % 7 = 0 THEN NULL ELSE now() - g * interval '1 minute' END FROM generate_series(1, 500) g;"
        "INSERT INTO letta.messages_by_month (id, role, sequence_id, created_at, agent_id) "
        "SELECT 'message-' || g, 'user', g, timestamptz '2026-10-15' + g * interval '1 hour', 'agent-1' "
        "FROM generate_series(1, 1000) g;"
    )
    yield pg  # letta_tables drops the schema


def indexes(pg: Server, table: str) -> dict[str, tuple[bool, str]]:
    """name -> (valid, pg_get_indexdef) for every index on a table."""
    rows = pg.sql(
        "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        (table,),
    )
    return {name: (valid, definition) for name, valid, definition in rows}


def statements_of(plan: Plan) -> list[str]:
    return [s.sql for c in plan.changes for s in c.statements]


FORMS = """
    name: index-forms
    tables:
      letta.messages:
        indexes:
          ix_messages_agent_created_at:          # exists already, same definition
            columns: [agent_id, created_at]
          ix_messages_agent_err:                 # partial
            columns: [agent_id, sequence_id]
            where: is_err = true
          ix_messages_agent_created_at_id:       # covering
            columns: [agent_id, created_at]
            include: [id]
          ix_messages_lower_text:                # expression on varchar: the server adds a cast
            columns: ["lower(text)"]
          ix_messages_created_desc:
            columns: [created_at DESC NULLS FIRST, "sequence_id desc nulls last"]
          ix_messages_id_pattern:                # opclass
            columns: [id text_pattern_ops]
            with: {fillfactor: 70, deduplicate_items: off}
          ix_messages_role_recent:               # constants the server casts and folds
            columns: [role]
            where: role = 'assistant' AND created_at > '2026-01-01'
          ix_messages_role_in:
            columns: [conversation_id]
            where: role IN ('tool', 'system')
      letta.runs:
        indexes:
          ix_runs_org_conversation:
            columns: [organization_id, conversation_id]
            unique: true
            nulls_not_distinct: true
          ix_runs_status_hash:
            columns: [status]
            method: hash
          ix_runs_created_brin:
            columns: [created_at]
            method: brin
            with: {pages_per_range: 32}
      archival_passages:                         # bare name: resolved through search_path
        indexes:
          ix_archival_passages_tags:
            columns: [tags jsonb_path_ops]
            method: gin
"""


def test_every_index_form_is_built_concurrently_and_re_plans_empty(letta: Server, plan_for: PlanFor) -> None:
    letta.sql("ALTER ROLE postgres SET search_path = letta, public")
    plan = plan_for(FORMS)
    objects = {c.object: c for c in plan.changes}
    assert "letta.ix_messages_agent_created_at" not in objects  # already there: no diff
    assert len(plan.changes) == 11
    assert {c.action for c in plan.changes} == {"create"}
    assert all(c.kind == "index" for c in plan.changes)
    for change in plan.changes:
        [statement] = change.statements
        assert statement.sql.startswith(("CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY"))
        assert not statement.transactional and not statement.retryable
        assert statement.lock == "SHARE UPDATE EXCLUSIVE"
        assert "INDEX_BUILD" in {h.code for h in change.hazards}
        assert "IF NOT EXISTS" not in statement.sql
    assert "UNIQUE_INDEX" in {h.code for h in objects["letta.ix_runs_org_conversation"].hazards}

    letta.apply(plan)

    messages = indexes(letta, "letta.messages")
    assert all(valid for valid, _ in messages.values())
    assert "WHERE (is_err = true)" in messages["ix_messages_agent_err"][1]
    assert "INCLUDE (id)" in messages["ix_messages_agent_created_at_id"][1]
    assert "lower((text)::text)" in messages["ix_messages_lower_text"][1]
    assert "(created_at DESC, sequence_id DESC NULLS LAST)" in messages["ix_messages_created_desc"][1]
    assert "id text_pattern_ops" in messages["ix_messages_id_pattern"][1]
    assert "WITH (deduplicate_items=off, fillfactor='70')" in messages["ix_messages_id_pattern"][1]  # as written
    runs = indexes(letta, "letta.runs")
    assert runs["ix_runs_org_conversation"][1].startswith("CREATE UNIQUE INDEX")
    assert "NULLS NOT DISTINCT" in runs["ix_runs_org_conversation"][1]
    assert "USING hash (status)" in runs["ix_runs_status_hash"][1]
    assert (
        "USING gin (tags jsonb_path_ops)" in indexes(letta, "letta.archival_passages")["ix_archival_passages_tags"][1]
    )

    assert plan_for(FORMS).empty


def test_live_indexes_in_other_spellings_produce_no_diff(letta: Server, plan_for: PlanFor) -> None:
    letta.sql(
        'CREATE INDEX "ix_messages_Spelled" ON letta.messages USING BTREE ("agent_id" ASC NULLS LAST, created_at) '
        "INCLUDE (id) WITH (FILLFACTOR = 80) WHERE IS_ERR = TRUE;"
        "CREATE INDEX ix_messages_status ON letta.messages (role varchar_pattern_ops) "
        "WHERE role IN ('tool', 'system');"
        "CREATE INDEX ix_messages_lower ON letta.messages ((lower(text::text)) DESC);"
    )
    plan = plan_for(
        """
        name: spellings
        tables:
          letta.messages:
            indexes:
              ix_messages_Spelled:
                columns: [agent_id, created_at asc]
                include: ['"id"']
                where: (is_err = true)
                with: {fillfactor: '80'}
                method: btree
              ix_messages_status:
                columns: [role varchar_pattern_ops]
                where: ROLE  In ('tool','system')
              ix_messages_lower:
                columns: [lower(text) desc nulls first]
        """
    )
    assert plan.empty, [(c.object, c.before, c.after) for c in plan.changes]


def test_a_real_difference_replaces_online_and_leaves_one_valid_index(letta: Server, plan_for: PlanFor) -> None:
    profile = """
        name: replace
        tables:
          letta.messages:
            indexes:
              ix_messages_agent_created_at:
                columns: [agent_id, created_at DESC]
    """
    plan = plan_for(profile)
    [change] = plan.changes
    assert change.action == "replace"
    assert (
        change.before
        == "CREATE INDEX ix_messages_agent_created_at ON letta.messages USING btree (agent_id, created_at)"
    )
    sqls = [s.sql for s in change.statements]
    assert sqls[0].startswith('CREATE INDEX CONCURRENTLY "ix_messages_agent_created_at_pgtune_new"')
    assert sqls[1] == 'DROP INDEX CONCURRENTLY "letta"."ix_messages_agent_created_at"'
    assert sqls[2] == (
        'ALTER INDEX "letta"."ix_messages_agent_created_at_pgtune_new" RENAME TO "ix_messages_agent_created_at"'
    )
    assert {"INDEX_BUILD", "INDEX_DROPPED"} <= {h.code for h in change.hazards}

    letta.apply(plan)

    live = {n: d for n, d in indexes(letta, "letta.messages").items() if "agent_created" in n}
    assert list(live) == ["ix_messages_agent_created_at"]
    valid, definition = live["ix_messages_agent_created_at"]
    assert valid and definition.endswith("(agent_id, created_at DESC)")
    assert plan_for(profile).empty


def test_an_invalid_index_is_replaced_and_ends_valid(letta: Server, plan_for: PlanFor) -> None:
    # A concurrent UNIQUE build over duplicates fails half-way and leaves an INVALID index behind.
    with pytest.raises(Exception, match="could not create unique index"):
        letta.sql("CREATE UNIQUE INDEX CONCURRENTLY ix_messages_role ON letta.messages (role)")
    assert indexes(letta, "letta.messages")["ix_messages_role"][0] is False
    profile = """
        name: invalid
        tables:
          letta.messages:
            indexes:
              ix_messages_role:
                columns: [role]
                unique: true
    """
    [change] = plan_for(profile).changes
    assert change.action == "replace"
    assert "INVALID_INDEX" in {h.code for h in change.hazards}
    # Same definition, but invalid: never taken as present (and no IF NOT EXISTS to hide it).
    assert [s.sql.split(" ON ")[0] for s in change.statements] == [
        'DROP INDEX CONCURRENTLY "letta"."ix_messages_role"',
        'CREATE UNIQUE INDEX CONCURRENTLY "ix_messages_role"',
    ]
    letta.sql("DELETE FROM letta.messages WHERE role = 'user' AND id <> 'message-1'")
    letta.apply(plan_for(profile))
    assert indexes(letta, "letta.messages")["ix_messages_role"][0] is True
    assert plan_for(profile).empty


def test_absent_and_prune_drop_concurrently_but_never_constraint_indexes(letta: Server, plan_for: PlanFor) -> None:
    profile = """
        name: prune
        tables:
          letta.messages:
            prune_indexes: true
            indexes:
              ix_messages_agent_created_at:
                columns: [agent_id, created_at]
              ix_messages_org_agent: absent
              ix_messages_never_existed: absent
    """
    plan = plan_for(profile)
    assert [(c.object, c.action) for c in plan.changes] == [
        ("letta.ix_messages_org_agent", "delete"),
        ("letta.ix_messages_created_at", "delete"),
        ("letta.ix_messages_run_sequence", "delete"),
    ]
    for change in plan.changes:
        assert [s.sql.split(" ")[:4] for s in change.statements] == [
            ["DROP", "INDEX", "CONCURRENTLY", change.object.replace("letta.", '"letta".').replace("ix_", '"ix_') + '"']
        ]
        assert "INDEX_DROPPED" in {h.code for h in change.hazards}
    letta.apply(plan)
    assert sorted(indexes(letta, "letta.messages")) == [
        "ix_messages_agent_created_at",
        "messages_pkey",
        "uq_messages_sequence_id",
    ]
    assert plan_for(profile).empty


def test_constraint_backed_indexes_are_never_dropped_or_replaced(letta: Server, plan_for: PlanFor) -> None:
    assert plan_for(
        """
        name: same
        tables:
          letta.messages:
            indexes:
              uq_messages_sequence_id: {columns: [sequence_id], unique: true}
        """
    ).empty
    with pytest.raises(PgtuneError) as excinfo:
        plan_for(
            """
            name: constraint
            tables:
              letta.messages:
                indexes:
                  messages_pkey: absent
                  uq_messages_sequence_id:
                    columns: [sequence_id, id]
                    unique: true
            """
        )
    lines = excinfo.value.lines()
    assert len(lines) == 2
    assert "profile.yaml:5:7: index letta.messages_pkey backs constraint 'messages_pkey'" in lines[0]
    assert "profile.yaml:6:7: index letta.uq_messages_sequence_id backs constraint" in lines[1]


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("{columns: [agent_idd]}", "table letta.messages has no column 'agent_idd'; did you mean 'agent_id'?"),
        ("{columns: [agent_id], include: [nope]}", "has no column 'nope'"),
        ("{columns: [agent_id], where: 'is_er = true'}", "has no column 'is_er'"),
        ("{columns: ['lower_case(text)']}", "function lower_case(character varying) does not exist"),
        ("{columns: [agent_id no_such_ops]}", 'operator class "no_such_ops" does not exist'),
        ("{columns: [agent_id], method: hashh}", 'access method "hashh" does not exist'),
        ("{columns: [agent_id], with: {fillfactr: 70}}", 'unrecognized parameter "fillfactr"'),
        ("{columns: [agent_id], where: 'is_err = '}", "where 'is_err = ': syntax error at end of input"),
        ("{columns: ['agent_id) WHERE true; DROP TABLE letta.runs; --']}", "not a single index definition"),
        ("{columns: ['agent_id, role']}", "expected one column or expression"),
        ("{columns: [agent_id], where: 'true; DROP TABLE letta.runs'}", "not a single index definition"),
        ("{columns: [agent_id], where: 'random() > 0.5'}", "functions in index predicate must be marked IMMUTABLE"),
    ],
)
def test_bad_index_definitions_are_reported_with_positions_and_nothing_runs(
    letta: Server, plan_for: PlanFor, index: str, message: str
) -> None:
    position = letta.log_position()
    with pytest.raises(PgtuneError) as excinfo:
        plan_for(f"name: bad\ntables:\n  letta.messages:\n    indexes:\n      ix_bad: {index}\n")
    assert str(excinfo.value).startswith(str(excinfo.value).split(": ")[0])
    assert ":5:15: index 'ix_bad': " in str(excinfo.value)
    assert message in str(excinfo.value)
    letta.assert_only_reads_since(position)
    assert "ix_bad" not in indexes(letta, "letta.messages")
    assert letta.one("SELECT count(*) FROM pg_class WHERE relname = 'runs'") == 1


def test_an_index_name_taken_in_the_schema_is_an_error(letta: Server, plan_for: PlanFor) -> None:
    with pytest.raises(
        PgtuneError, match=r"profile.yaml:5:7: letta.ix_runs_agent_id is already an index on letta.runs"
    ):
        plan_for(
            "name: taken\ntables:\n  letta.messages:\n    indexes:\n      ix_runs_agent_id: {columns: [agent_id]}\n"
        )


PARTITIONED = """
    name: partitioned
    tables:
      letta.messages_by_month:
        indexes:
          ix_mbm_agent_created:
            columns: [agent_id, created_at]
            where: is_err
"""


def test_partitioned_index_on_only_then_each_partition_concurrently(letta: Server, plan_for: PlanFor) -> None:
    plan = plan_for(PARTITIONED)
    [change] = plan.changes
    assert change.action == "create"
    kinds = [(s.sql.split(" (")[0].split(" USING")[0], s.lock, s.transactional) for s in change.statements]
    assert kinds[0] == (
        'CREATE INDEX "ix_mbm_agent_created" ON ONLY "letta"."messages_by_month"',
        "SHARE",
        True,
    )
    assert len(kinds) == 1 + 2 * 3  # three partitions: build + attach each
    assert all(k[0].startswith("CREATE INDEX CONCURRENTLY") for k in kinds[1::2])
    assert all(k[0].startswith('ALTER INDEX "letta"."ix_mbm_agent_created" ATTACH PARTITION') for k in kinds[2::2])
    letta.apply(plan)
    parent = indexes(letta, "letta.messages_by_month")["ix_mbm_agent_created"]
    assert parent[0] is True and "ON ONLY letta.messages_by_month" in parent[1]
    attached = letta.one("SELECT count(*) FROM pg_inherits WHERE inhparent = 'letta.ix_mbm_agent_created'::regclass")
    assert attached == 3
    assert plan_for(PARTITIONED).empty


def test_an_interrupted_partitioned_build_resumes(letta: Server, plan_for: PlanFor) -> None:
    # As if apply was killed after the parent and one partition: the parent index is INVALID.
    letta.sql(
        "CREATE INDEX ix_mbm_agent_created ON ONLY letta.messages_by_month (agent_id, created_at) WHERE is_err;"
        "CREATE INDEX mbm_p10_manual ON letta.messages_by_month_p2026_10 (agent_id, created_at) WHERE is_err;"
        "ALTER INDEX letta.ix_mbm_agent_created ATTACH PARTITION letta.mbm_p10_manual;"
    )
    assert indexes(letta, "letta.messages_by_month")["ix_mbm_agent_created"][0] is False
    [change] = plan_for(PARTITIONED).changes
    assert change.action == "update"
    assert "INVALID_INDEX" in {h.code for h in change.hazards}
    assert len(change.statements) == 2 * 2  # the two partitions still missing one
    letta.apply(plan_for(PARTITIONED))
    assert indexes(letta, "letta.messages_by_month")["ix_mbm_agent_created"][0] is True
    assert plan_for(PARTITIONED).empty


def test_partitioned_replace_and_drop_flag_the_access_exclusive_lock(letta: Server, plan_for: PlanFor) -> None:
    letta.apply(plan_for(PARTITIONED))
    changed = PARTITIONED.replace("where: is_err", "where: is_err IS NOT TRUE")
    [change] = plan_for(changed).changes
    assert change.action == "replace"
    assert {"ACQUIRES_ACCESS_EXCLUSIVE_LOCK", "INDEX_DROPPED", "INDEX_BUILD"} <= {h.code for h in change.hazards}
    drop = [s for s in change.statements if s.sql.startswith("DROP INDEX")]
    assert [(s.sql, s.lock) for s in drop] == [('DROP INDEX "letta"."ix_mbm_agent_created"', "ACCESS EXCLUSIVE")]
    letta.apply(plan_for(changed))
    parent = indexes(letta, "letta.messages_by_month")
    assert [n for n in parent if "agent_created" in n] == ["ix_mbm_agent_created"]
    assert parent["ix_mbm_agent_created"][0] and "IS NOT TRUE" in parent["ix_mbm_agent_created"][1]
    assert plan_for(changed).empty

    gone = "name: gone\ntables:\n  letta.messages_by_month:\n    indexes:\n      ix_mbm_agent_created: absent\n"
    [drop_change] = plan_for(gone).changes
    assert drop_change.action == "delete"
    assert "ACQUIRES_ACCESS_EXCLUSIVE_LOCK" in {h.code for h in drop_change.hazards}
    letta.apply(plan_for(gone))
    assert "ix_mbm_agent_created" not in indexes(letta, "letta.messages_by_month")
    assert letta.one("SELECT count(*) FROM pg_class WHERE relname LIKE 'messages_by_month_p%%ix_mbm%%'") == 0


def test_an_interrupted_replace_is_finished_or_cleaned_up(letta: Server, plan_for: PlanFor) -> None:
    profile = """
        name: leftover
        tables:
          letta.messages:
            indexes:
              ix_messages_agent_created_at:
                columns: [agent_id, created_at DESC]
    """
    # Killed after the old index was dropped: the new one waits under its temporary name.
    letta.sql(
        "CREATE INDEX ix_messages_agent_created_at_pgtune_new ON letta.messages (agent_id, created_at DESC);"
        "DROP INDEX letta.ix_messages_agent_created_at;"
    )
    [change] = plan_for(profile).changes
    assert [s.sql for s in change.statements] == [
        'ALTER INDEX "letta"."ix_messages_agent_created_at_pgtune_new" RENAME TO "ix_messages_agent_created_at"'
    ]
    letta.apply(plan_for(profile))
    assert plan_for(profile).empty

    # Killed during the build of a replacement: an invalid temporary index is dropped first.
    letta.sql("CREATE INDEX ix_messages_agent_created_at_pgtune_new ON letta.messages (agent_id)")
    letta.sql(
        "UPDATE pg_index SET indisvalid = false "
        "WHERE indexrelid = 'letta.ix_messages_agent_created_at_pgtune_new'::regclass"
    )
    back = profile.replace("created_at DESC", "created_at")
    [change] = plan_for(back).changes
    assert change.statements[0].sql == 'DROP INDEX CONCURRENTLY "letta"."ix_messages_agent_created_at_pgtune_new"'
    letta.apply(plan_for(back))
    assert sorted(n for n in indexes(letta, "letta.messages") if "agent_created" in n) == [
        "ix_messages_agent_created_at"
    ]
    assert plan_for(back).empty


def test_cli_json_names_index_objects_and_apply_converges(
    letta: Server, cli: Callable[..., object], write_profile: Callable[..., object]
) -> None:
    import json

    profile = write_profile(
        """
        name: cli-indexes
        tables:
          letta.messages:
            storage: {autovacuum_vacuum_scale_factor: 0.05}
            indexes:
              ix_messages_agent_err: {columns: [agent_id, sequence_id], where: is_err = true}
              ix_messages_org_agent: absent
        """
    )
    result = cli("plan", str(profile), "--dsn", letta.dsn, "--format", "json")
    assert result.code == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    assert [(c["kind"], c["object"], c["action"]) for c in changes] == [
        ("storage", "letta.messages", "update"),
        ("index", "letta.ix_messages_agent_err", "create"),
        ("index", "letta.ix_messages_org_agent", "delete"),
    ]
    build = changes[1]["statements"][0]
    assert build == {
        "sql": 'CREATE INDEX CONCURRENTLY "ix_messages_agent_err" ON "letta"."messages" USING "btree" '
        "(agent_id, sequence_id) WHERE is_err = TRUE",
        "transactional": False,
        "lock": "SHARE UPDATE EXCLUSIVE",
        "retryable": False,
        "progress": "create_index",
        "target": "postgres",
        "file": None,
        "locks": [],
    }
    assert {h["code"] for h in changes[2]["hazards"]} == {"INDEX_DROPPED"}
    applied = cli("apply", str(profile), "--dsn", letta.dsn, "--yes")
    assert applied.code == 0, applied.stderr
    assert cli("plan", str(profile), "--dsn", letta.dsn, "--detailed-exitcode").code == 0
