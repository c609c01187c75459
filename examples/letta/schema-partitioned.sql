-- Letta's `messages` partitioned by month, for a FRESH install only. Run after schema.sql on a
-- database that holds no messages yet; it refuses (and changes nothing) otherwise.
--
-- Why not a conversion of a running Letta database: no conversion can keep what Letta's schema
-- has. A partitioned table's PRIMARY KEY and UNIQUE constraints must include the partition key,
-- so `messages_pkey (id)` and `uq_messages_sequence_id (sequence_id)` become (id, created_at) and
-- (sequence_id, created_at) — ids are no longer unique by themselves — and the foreign key
-- `conversation_messages.message_id -> messages(id)` cannot exist (nothing unique on id alone to
-- point at). Letta's own later migrations also build indexes on `messages` with CREATE INDEX
-- CONCURRENTLY, which a partitioned table refuses: after partitioning, Letta upgrades need
-- hand-written migrations. So pgtune ships no in-place conversion, and this file never drops a
-- table that holds rows or belongs to a migrated Letta database (`alembic_version`).
-- Otherwise it keeps every column (created_at becomes NOT NULL DEFAULT now(): a row needs a
-- partition), every index (as partitioned indexes), every foreign key from `messages`, and the
-- sequence. pgtune (profiles/letta-partitioned.yaml) creates and retires the partitions.
BEGIN;  -- one transaction: under psql without ON_ERROR_STOP too, a refusal stops everything below
DO $$
DECLARE
    held bigint;
BEGIN
    IF to_regclass('letta.alembic_version') IS NOT NULL OR to_regclass('public.alembic_version') IS NOT NULL THEN
        RAISE EXCEPTION 'refusing: this database was built by Letta''s migrations (alembic_version exists); '
            'partitioning messages in place cannot keep its primary key and foreign keys — see this file''s header';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('letta.messages')) = 'p' THEN
        RAISE EXCEPTION 'refusing: letta.messages is partitioned already';
    END IF;
    SELECT count(*) INTO held FROM (SELECT FROM letta.messages LIMIT 1) s;
    IF held > 0 THEN
        RAISE EXCEPTION 'refusing: letta.messages holds rows; this file is for fresh installs only (nothing was changed)';
    END IF;
    SELECT count(*) INTO held FROM (SELECT FROM letta.conversation_messages LIMIT 1) s;
    IF held > 0 THEN
        RAISE EXCEPTION 'refusing: letta.conversation_messages holds rows (nothing was changed)';
    END IF;
    LOCK TABLE letta.messages, letta.conversation_messages IN ACCESS EXCLUSIVE MODE;  -- no row can arrive now
    IF EXISTS (SELECT FROM letta.messages) OR EXISTS (SELECT FROM letta.conversation_messages) THEN
        RAISE EXCEPTION 'refusing: rows arrived while checking (nothing was changed)';
    END IF;
    ALTER TABLE letta.conversation_messages DROP CONSTRAINT conversation_messages_message_id_fkey;
    DROP TABLE letta.messages;  -- empty, locked: checked just above
END $$;

CREATE TABLE letta.messages (
    id varchar NOT NULL,
    agent_id varchar NOT NULL,
    role varchar NOT NULL,
    text varchar,
    model varchar,
    name varchar,
    tool_calls json NOT NULL,
    tool_call_id varchar,
    created_at timestamptz NOT NULL DEFAULT now(),   -- Letta: nullable, no default; a partition key must be set
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean NOT NULL DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    organization_id varchar NOT NULL,
    step_id varchar,
    otid varchar,
    tool_returns json,
    group_id varchar,
    content json,
    sequence_id bigint NOT NULL DEFAULT nextval('letta.message_seq_id'::regclass),
    sender_id varchar,
    batch_item_id varchar,
    is_err boolean,
    approval_request_id varchar,
    approve boolean,
    denial_reason varchar,
    run_id varchar,
    approvals json,
    conversation_id varchar,
    CONSTRAINT messages_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT uq_messages_sequence_id UNIQUE (sequence_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_messages_on_updated_at ON letta.messages USING btree (updated_at);
CREATE INDEX idx_messages_step_id ON letta.messages USING btree (step_id);
CREATE INDEX ix_messages_agent_conversation_sequence ON letta.messages USING btree (agent_id, conversation_id, sequence_id);
CREATE INDEX ix_messages_agent_created_at ON letta.messages USING btree (agent_id, created_at);
CREATE INDEX ix_messages_agent_sequence ON letta.messages USING btree (agent_id, sequence_id);
CREATE INDEX ix_messages_conversation_id ON letta.messages USING btree (conversation_id);
CREATE INDEX ix_messages_created_at ON letta.messages USING btree (created_at, id);
CREATE INDEX ix_messages_org_agent ON letta.messages USING btree (organization_id, agent_id);
CREATE INDEX ix_messages_run_sequence ON letta.messages USING btree (run_id, sequence_id);
ALTER TABLE letta.messages ADD CONSTRAINT fk_messages_run_id FOREIGN KEY (run_id) REFERENCES letta.runs(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT fk_messages_step_id FOREIGN KEY (step_id) REFERENCES letta.steps(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT messages_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES letta.agents(id) ON DELETE CASCADE;
ALTER TABLE letta.messages ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES letta.conversations(id) ON DELETE SET NULL;
ALTER TABLE letta.messages ADD CONSTRAINT messages_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES letta.organizations(id);
COMMIT;
