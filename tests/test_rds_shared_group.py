"""A parameter group shared with an instance outside the cluster --dsn reaches (issue 39, break 8):
the plan says so in a notice and leaves it out of its nodes and reboots; `apply --restart` reboots
only the writer --dsn reaches and its readers. The fake RDS API (tests/rds_fake.py) over a real
PostgreSQL 16 as the writer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Server
from tests.rds_fake import FakeInstance, FakeRds
from tests.test_rds import AWS_ENV, GROUP, Lane, _run, _writer


@pytest.fixture
def shared(pg16: Server) -> Iterator[Lane]:
    pg16.reset()
    fake = FakeRds(16)
    fake.add_group(GROUP)
    fake.add_instance(FakeInstance("reader-1", GROUP, "db.r6g.large", "10.0.0.2", 5432, replica_of="writer-1"))
    fake.add_instance(
        FakeInstance("writer-1", GROUP, "db.r6g.large", "127.0.0.1", pg16.cluster.port, apply=_writer(pg16))
    )
    fake.add_instance(FakeInstance("another-app", GROUP, "db.r6g.large", "10.0.9.9", 5432))  # someone else's
    fake.add_instance(FakeInstance("another-reader", GROUP, "db.r6g.large", "10.0.9.8", 5432, replica_of="another-app"))
    yield Lane(pg16, fake, {**AWS_ENV, "AWS_ENDPOINT_URL": fake.url})
    fake.close()
    pg16.reset()


def test_an_instance_outside_the_cluster_is_a_notice_and_never_rebooted(shared: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    profile = write_profile("name: rds\nsettings:\n  shared_buffers: 256MB\n")
    doc = json.loads(_run(shared, "plan", "--format", "json", profile=profile))
    (notice,) = [n for n in doc["parameter_group"]["notices"] if n["code"] == "GROUP_SHARED"]
    assert "parameter group pgtune-test is also used by another-app, another-reader" in notice["message"]
    assert "pgtune never reboots them" in notice["message"]
    assert [n["name"] for n in doc["cluster"]["nodes"]] == ["writer-1", "reader-1"]
    assert [s["node"] for s in doc["cluster"]["restart_order"]] == ["reader-1", "writer-1"]
    text = _run(shared, "plan", profile=profile)
    assert "another-app" in text and "Reboot order: reader-1 (reader), then writer-1 (writer)." in text

    _run(shared, "apply", "--yes", "--restart", profile=profile)
    rebooted = [c["DBInstanceIdentifier"] for c in shared.fake.calls_of("RebootDBInstance")]
    assert rebooted == ["reader-1", "writer-1"], rebooted


def test_without_knowing_the_instance_nothing_is_rebooted(shared: Lane, write_profile) -> None:  # type: ignore[no-untyped-def]
    shared.fake.instances["writer-1"].host = "writer-1.example.rds.amazonaws.com"  # a CNAME: pgtune cannot tell
    profile = write_profile("name: rds\nsettings:\n  shared_buffers: 256MB\n")
    doc = json.loads(_run(shared, "plan", "--format", "json", profile=profile))
    assert doc["cluster"]["restart_order"] == []
    assert "--rds-instance" in doc["cluster"]["restart_reason"]
    _run(shared, "apply", "--yes", "--restart", profile=profile)
    assert shared.fake.calls_of("RebootDBInstance") == []
