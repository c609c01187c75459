"""Every API answer is bounded and strict (issue 39, breaks 5 and 6): the RDS API through boto3 as
much as Patroni's and GitHub's through pgtune's HTTP client — an endless answer ends at a size cap,
a drip at one deadline for the whole call, an answer that is not the API's XML is the endpoint's
fault in one line; JSON nested 100,000 deep, a 5,000-digit number or `true` for a port are refused
with a message, never an internal error. Fake endpoints on loopback, a real PostgreSQL 16 where
pgtune must get that far."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtune.base.jsontext import MAX_DEPTH, JsonRefused, loads
from tests.conftest import CliResult, Server, run_cli
from tests.fake_endpoint import FakeEndpoint, drip, endless, send_bytes
from tests.test_untrusted_endpoints import _measured, _member

AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
PROFILE = "name: hostile\nsettings:\n  work_mem: 12MB\n"


@pytest.fixture
def fake() -> Iterator[FakeEndpoint]:
    endpoint = FakeEndpoint()
    yield endpoint
    endpoint.close()


def _profile(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(PROFILE)
    return path


def _clean(result: CliResult) -> None:
    assert result.code == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr) < 2000, f"{len(result.stderr)} characters of error"


# --- RDS through boto3 ---------------------------------------------------------------------------------


def test_an_endless_rds_answer_ends_at_the_size_cap(pg16: Server, fake: FakeEndpoint, tmp_path: Path) -> None:
    fake.routes[("POST", "/")] = endless(fake.stop)
    result, peak_kb, _seconds = _measured(
        "plan",
        str(_profile(tmp_path)),
        "--dsn",
        pg16.dsn,
        "--rds-parameter-group",
        "pgtune-test",
        env={**AWS, "AWS_ENDPOINT_URL": fake.url},
        tmp=tmp_path,
    )
    _clean(result)
    assert "RDS POST" in result.stderr and "the answer went on past the limit" in result.stderr, result.stderr
    assert peak_kb < 400 * 1024, f"peak RSS {peak_kb} kB"


def test_a_dripping_rds_answer_ends_at_one_deadline_for_the_call(
    pg16: Server, fake: FakeEndpoint, tmp_path: Path
) -> None:
    fake.routes[("POST", "/")] = drip(fake.stop, every=0.5)
    started = time.monotonic()
    result = run_cli(
        "plan",
        str(_profile(tmp_path)),
        "--dsn",
        pg16.dsn,
        "--rds-parameter-group",
        "pgtune-test",
        env={**AWS, "AWS_ENDPOINT_URL": fake.url, "PGTUNE_HTTP_TIMEOUT": "2"},
    )
    elapsed = time.monotonic() - started
    _clean(result)
    assert "no complete answer within 2s ($PGTUNE_HTTP_TIMEOUT)" in result.stderr, result.stderr
    assert elapsed < 2 + 8, elapsed  # one deadline for the call and its retries, plus the interpreter's start


def test_an_answer_that_is_not_rds_xml_is_the_endpoints_fault_in_one_line(
    pg16: Server, fake: FakeEndpoint, tmp_path: Path
) -> None:
    body = b"<DescribeDBInstancesResponse><DescribeDBInstancesResult>" + b"<x>" * 4000 + b"&broken"
    fake.routes[("POST", "/")] = lambda h: send_bytes(h, body)
    result = run_cli(
        "plan",
        str(_profile(tmp_path)),
        "--dsn",
        pg16.dsn,
        "--rds-parameter-group",
        "pgtune-test",
        env={**AWS, "AWS_ENDPOINT_URL": fake.url},
    )
    _clean(result)
    assert "RDS describe_db_instances: the endpoint answered what the RDS API does not" in result.stderr
    assert "<x><x><x><x>" not in result.stderr and result.stderr.count("\n") <= 2, result.stderr


# --- JSON: nesting, numbers, types ---------------------------------------------------------------------


def _patroni(fake: FakeEndpoint, tmp_path: Path, body: bytes) -> CliResult:
    fake.routes[("GET", "/cluster")] = lambda h: send_bytes(h, body)
    return run_cli("plan", str(_profile(tmp_path)), "--patroni", fake.url, "--dsn", "dbname=postgres")


def test_json_nested_100000_deep_is_refused_with_a_message(fake: FakeEndpoint, tmp_path: Path) -> None:
    result = _patroni(fake, tmp_path, b'{"members": ' + b"[" * 100_000)
    _clean(result)
    assert f"nested 100001 levels deep (at most {MAX_DEPTH})" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("9" * 5000, "an integer of 5000 digits (at most 20)"),
        ("true", "members[0].port: Input should be a valid integer"),
        ('"5432"', "members[0].port: Input should be a valid integer"),
        ("1e999", "a number out of range"),
        ("NaN", "NaN is not JSON"),
    ],
)
def test_a_port_must_be_a_port(fake: FakeEndpoint, tmp_path: Path, port: str, message: str) -> None:
    member = json.dumps(_member("n1", "leader", 5432, "http://127.0.0.1:1/patroni")).replace("5432", port)
    result = _patroni(fake, tmp_path, f'{{"members": [{member}]}}'.encode())
    _clean(result)
    assert message in result.stderr, result.stderr


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(JsonRefused, match="the key 'port' is given twice"):
        loads(b'{"port": 1, "port": 2}')


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**19), 10**19)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_json_pgtune_accepts_reads_as_pythons_json_does(doc: object) -> None:
    text = json.dumps(doc)
    assert loads(text) == json.loads(text)
