-- Letta's PostgreSQL schema as it ships (letta-ai/letta, letta/orm + alembic), trimmed to the tables
-- and columns pgtune's Letta profile touches, in Letta's layout: the tables live in a schema named
-- after the database (`letta`), ids are prefixed text (`message-<uuid4>`), created_at is a nullable
-- timestamptz, messages.sequence_id is UNIQUE. Indexes are the ones Letta's models declare.
-- pgvector is used when the server has it (the embedding column), real[] otherwise.
CREATE SCHEMA IF NOT EXISTS letta;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA letta;
    END IF;
END $$;

CREATE TABLE letta.organizations (
    id varchar PRIMARY KEY,                       -- org-<uuid>
    name varchar NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar
);

CREATE TABLE letta.agents (
    id varchar PRIMARY KEY,                       -- agent-<uuid>
    organization_id varchar REFERENCES letta.organizations (id),
    project_id varchar,
    base_template_id varchar,
    template_id varchar,
    deployment_id varchar,
    entity_id varchar,
    agent_type varchar,
    name varchar,
    system varchar,
    message_ids json,
    llm_config json,
    embedding_config json,
    tool_rules json,
    metadata_ json,
    last_run_completion timestamptz,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar
);
CREATE INDEX ix_agents_created_at ON letta.agents (created_at, id);
CREATE INDEX ix_agents_organization_id_deployment_id ON letta.agents (organization_id, deployment_id);
CREATE INDEX ix_agents_project_id ON letta.agents (project_id);

CREATE TABLE letta.conversations (
    id varchar PRIMARY KEY,                       -- conv-<uuid>
    organization_id varchar REFERENCES letta.organizations (id),
    agent_id varchar REFERENCES letta.agents (id) ON DELETE CASCADE,
    summary varchar,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false
);

CREATE TABLE letta.runs (
    id varchar PRIMARY KEY,                       -- run-<uuid>
    organization_id varchar REFERENCES letta.organizations (id),
    project_id varchar,
    agent_id varchar NOT NULL REFERENCES letta.agents (id) ON DELETE CASCADE,
    conversation_id varchar REFERENCES letta.conversations (id) ON DELETE SET NULL,
    status varchar,
    stop_reason varchar,
    background boolean,
    metadata_ json,
    request_config json,
    completed_at timestamp,
    ttft_ns bigint,
    total_duration_ns bigint,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar
);
CREATE INDEX ix_runs_created_at ON letta.runs (created_at, id);
CREATE INDEX ix_runs_agent_id ON letta.runs (agent_id);
CREATE INDEX ix_runs_organization_id ON letta.runs (organization_id);
CREATE INDEX ix_runs_conversation_id ON letta.runs (conversation_id);

CREATE TABLE letta.steps (
    id varchar PRIMARY KEY,                       -- step-<uuid>
    organization_id varchar REFERENCES letta.organizations (id) ON DELETE RESTRICT,
    run_id varchar REFERENCES letta.runs (id) ON DELETE SET NULL,
    agent_id varchar,
    model varchar,
    model_handle varchar,
    provider_name varchar,
    completion_tokens integer,
    prompt_tokens integer,
    total_tokens integer,
    stop_reason varchar,
    tags json,
    trace_id varchar,
    error_type varchar,
    error_data json,
    status varchar,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false
);
CREATE INDEX ix_steps_run_id ON letta.steps (run_id);

CREATE SEQUENCE letta.message_seq_id;
CREATE TABLE letta.messages (
    id varchar PRIMARY KEY,                       -- message-<uuid4>
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
    group_id varchar,
    sender_id varchar,
    batch_item_id varchar,
    conversation_id varchar REFERENCES letta.conversations (id) ON DELETE SET NULL,
    is_err boolean,
    approval_request_id varchar,
    approve boolean,
    denial_reason varchar,
    approvals json,
    sequence_id bigint NOT NULL DEFAULT nextval('letta.message_seq_id'),
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false,
    _created_by_id varchar,
    _last_updated_by_id varchar,
    CONSTRAINT uq_messages_sequence_id UNIQUE (sequence_id)
);
CREATE INDEX idx_messages_on_updated_at ON letta.messages (updated_at);
CREATE INDEX ix_messages_agent_created_at ON letta.messages (agent_id, created_at);
CREATE INDEX ix_messages_agent_conversation_sequence ON letta.messages (agent_id, conversation_id, sequence_id);
CREATE INDEX ix_messages_created_at ON letta.messages (created_at, id);
CREATE INDEX ix_messages_agent_sequence ON letta.messages (agent_id, sequence_id);
CREATE INDEX ix_messages_org_agent ON letta.messages (organization_id, agent_id);
CREATE INDEX ix_messages_run_sequence ON letta.messages (run_id, sequence_id);
CREATE INDEX idx_messages_step_id ON letta.messages (step_id);
CREATE INDEX ix_messages_conversation_id ON letta.messages (conversation_id);

CREATE TABLE letta.conversation_messages (
    conversation_id varchar REFERENCES letta.conversations (id) ON DELETE CASCADE,
    message_id varchar REFERENCES letta.messages (id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, message_id)
);

CREATE TABLE letta.archives (
    id varchar PRIMARY KEY,
    organization_id varchar REFERENCES letta.organizations (id),
    name varchar,
    created_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false
);

CREATE TABLE letta.archival_passages (
    id varchar PRIMARY KEY,                       -- passage-<uuid>
    organization_id varchar REFERENCES letta.organizations (id),
    archive_id varchar REFERENCES letta.archives (id) ON DELETE CASCADE,
    text varchar NOT NULL,
    embedding_config json,
    metadata_ json,
    tags json,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    is_deleted boolean DEFAULT false
);
CREATE INDEX ix_archival_passages_org_archive ON letta.archival_passages (organization_id, archive_id);
CREATE INDEX archival_passages_created_at_id_idx ON letta.archival_passages (created_at, id);
CREATE INDEX ix_archival_passages_archive_id ON letta.archival_passages (archive_id);

DO $$
BEGIN  -- embedding vector(4096) with pgvector (too wide for an HNSW/IVFFlat index), real[] without
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'vector') THEN
        ALTER TABLE letta.archival_passages ADD COLUMN embedding letta.vector(4096);
    ELSE
        ALTER TABLE letta.archival_passages ADD COLUMN embedding real[];
    END IF;
END $$;
