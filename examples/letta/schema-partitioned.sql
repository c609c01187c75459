-- The partition-ready variant of Letta's `messages` (run after schema.sql). Monthly RANGE
-- partitioning by created_at is what the tuning guide asks for, and the shipped schema cannot take
-- it: every PRIMARY KEY/UNIQUE constraint of a partitioned table must include the partition key,
-- and created_at is nullable. So here: created_at NOT NULL, PRIMARY KEY (id, created_at), UNIQUE
-- (sequence_id, created_at), and conversation_messages keeps message_id without a foreign key (no
-- unique key on id alone can exist to point at). pgtune (profiles/letta-partitioned.yaml) creates
-- the partitions; the application's migration owns this parent.
ALTER TABLE letta.conversation_messages DROP CONSTRAINT IF EXISTS conversation_messages_message_id_fkey;
DROP TABLE letta.messages;

CREATE TABLE letta.messages (
    id varchar NOT NULL,                          -- message-<uuid4>
    organization_id varchar REFERENCES letta.organizations (id),
    agent_id varchar REFERENCES letta.agents (id) ON DELETE CASCADE,
    role varchar NOT NULL,
    text varchar,
    content json,
    model varchar,
    name varchar,
    tool_calls json,
    tool_call_id varchar,
    tool_returns json,
    step_id varchar REFERENCES letta.steps (id) ON DELETE SET NULL,
    run_id varchar REFERENCES letta.runs (id) ON DELETE SET NULL,
    otid varchar,
    conversation_id varchar REFERENCES letta.conversations (id) ON DELETE SET NULL,
    is_err boolean,
    sequence_id bigint NOT NULL DEFAULT nextval('letta.message_seq_id'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false,
    PRIMARY KEY (id, created_at),
    CONSTRAINT uq_messages_sequence_id UNIQUE (sequence_id, created_at)
) PARTITION BY RANGE (created_at);
