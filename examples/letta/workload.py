"""Run Letta's query shapes against a seeded database (examples/letta/seed.py), so that
pg_stat_statements holds a workload for `pgtune advise` to read (docs/advise.md).

    python examples/letta/workload.py --dsn postgresql://postgres@localhost/letta --rounds 200

The shapes are those of Letta's server: an agent's message history newest first (the context
window, soft-deleted messages skipped), an agent by id in its organization, a run's steps, the runs
of an agent counted, a conversation's messages in order, and writes — steps appended as an agent
works (a table only ever written), messages' updated_at touched. Parameters are bound server-side,
so pg_stat_statements records one normalised statement per shape ($1, $2 ...).
"""

from __future__ import annotations

import argparse
import random
import time

import psycopg

READS = {
    "message history": (
        "SELECT id, role, text, created_at FROM letta.messages "
        "WHERE agent_id = %(agent)s AND is_deleted = false ORDER BY sequence_id DESC LIMIT 50"
    ),
    "agent by id": "SELECT id, name, agent_type FROM letta.agents WHERE id = %(agent)s AND organization_id = %(org)s",
    "steps of a run": "SELECT id, model, total_tokens FROM letta.steps WHERE run_id = %(run)s",
    "runs of an agent": "SELECT count(*) FROM letta.runs WHERE agent_id = %(agent)s",
    "messages of a conversation": (
        "SELECT message_id FROM letta.conversation_messages WHERE conversation_id = %(conversation)s "
        "ORDER BY position LIMIT 100"
    ),
}
WRITES = {
    "append a step": (
        "INSERT INTO letta.steps (id, organization_id, run_id, agent_id, model, total_tokens) "
        "VALUES (%(step)s, 'org-seed', %(run)s, %(agent)s, 'gpt-4o-mini', 100)"
    ),
    "touch a message": "UPDATE letta.messages SET updated_at = now() WHERE id = %(message)s",
}


def run(dsn: str, rounds: int, agents: int = 200, seed: int = 7) -> dict[str, int]:
    """Each round runs every read once and every write once; returns the calls per shape."""
    rng = random.Random(seed)
    calls = dict.fromkeys([*READS, *WRITES], 0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        runs = [r for (r,) in conn.execute("SELECT id FROM letta.runs ORDER BY id LIMIT 1000")]
        messages = [m for (m,) in conn.execute("SELECT id FROM letta.messages ORDER BY id LIMIT 1000")]
        for i in range(rounds):
            params = {
                "agent": f"agent-{rng.randint(1, agents)}",
                "org": "org-seed",
                "run": rng.choice(runs) if runs else "run-1",
                "conversation": f"conv-{rng.randint(1, 50)}",
                "message": rng.choice(messages) if messages else "message-1",
                "step": f"step-workload-{seed}-{i}",
            }
            for name, query in [*READS.items(), *WRITES.items()]:
                conn.execute(query, params)
                calls[name] += 1
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="", help="connection string (default: libpq's PG* variables)")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--agents", type=int, default=200, help="as given to seed.py")
    args = parser.parse_args()
    started = time.monotonic()
    calls = run(args.dsn, args.rounds, args.agents)
    print(f"ran {sum(calls.values()):,} statements in {time.monotonic() - started:.1f}s: {calls}")


if __name__ == "__main__":
    main()
