"""The RDS API as pgtune uses it: boto3's client (region, credentials and `AWS_ENDPOINT_URL` from
its usual chain), every answer validated and bounded before pgtune reads it, every call timed out.

Only calls that moto's server mode implements are needed to plan and apply (DescribeDBParameterGroups,
DescribeDBParameters, DescribeDBInstances, ModifyDBParameterGroup, RebootDBInstance); a removed
parameter needs ResetDBParameterGroup, which moto lacks. DescribeEngineDefaultParameters is never
called: a parameter the group has no row for is typed from the instance's own `pg_settings`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pgtune.base.redact import remember_secret
from pgtune.integrations.endpoints import DEADLINE_ENV, EndpointError, HttpClient, deadline_from_environment, shown

MAX_PER_CALL = 20
"""ModifyDBParameterGroup and ResetDBParameterGroup take at most 20 parameters a call (RDS API
reference; not in botocore's service model, so nothing but pgtune enforces it on the way out)."""
PAGE = 100  # MaxRecords: RDS's largest page
MAX_PAGES = 50  # 5,000 parameters or instances: far more than any group or account region holds
TEXT = 8192  # the longest value pgtune reads from an answer


_GROUP_KEY = {False: "DBParameterGroupName", True: "DBClusterParameterGroupName"}


class RdsError(EndpointError):
    """An RDS call failed or answered what pgtune cannot trust (the message never holds credentials)."""


class _Raw:
    """A bounded answer's body as botocore reads one (AWSResponse.raw)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body

    def read(self, *_: Any, **__: Any) -> bytes:
        return self.body


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class GroupParameter(_Answer):
    name: str = Field(alias="ParameterName", max_length=255)
    value: str | None = Field(None, alias="ParameterValue", max_length=TEXT)
    source: str | None = Field(None, alias="Source", max_length=64)  # user | engine-default | system
    apply_type: str | None = Field(None, alias="ApplyType", max_length=64)  # static | dynamic
    data_type: str | None = Field(None, alias="DataType", max_length=64)
    allowed: str | None = Field(None, alias="AllowedValues", max_length=TEXT)
    modifiable: bool = Field(True, alias="IsModifiable")
    apply_method: str | None = Field(None, alias="ApplyMethod", max_length=64)

    @property
    def user(self) -> bool:
        """Set by the group's owner. A row without a Source comes from a backend that stores only what
        it was sent (moto): that is the user's too."""
        return self.source in ("user", None)


class _GroupRef(_Answer):
    name: str = Field(alias="DBParameterGroupName", max_length=255)
    status: str = Field("in-sync", alias="ParameterApplyStatus", max_length=64)


class _Endpoint(_Answer):
    address: str | None = Field(None, alias="Address", max_length=255)
    port: int | None = Field(None, alias="Port", ge=0, le=65535)


class Instance(_Answer):
    identifier: str = Field(alias="DBInstanceIdentifier", max_length=255)
    status: str = Field("available", alias="DBInstanceStatus", max_length=64)
    instance_class: str = Field("", alias="DBInstanceClass", max_length=64)
    engine: str = Field("", alias="Engine", max_length=64)
    engine_version: str = Field("", alias="EngineVersion", max_length=64)
    endpoint: _Endpoint | None = Field(None, alias="Endpoint")
    groups: tuple[_GroupRef, ...] = Field((), alias="DBParameterGroups", max_length=64)
    replica_of: str | None = Field(None, alias="ReadReplicaSourceDBInstanceIdentifier", max_length=255)
    cluster: str | None = Field(None, alias="DBClusterIdentifier", max_length=255)  # Aurora
    multi_az: bool = Field(False, alias="MultiAZ")
    allocated_storage: int = Field(0, alias="AllocatedStorage", ge=0)

    def apply_status(self, group: str) -> str | None:
        """The instance's ParameterApplyStatus for `group` (None: it does not use the group)."""
        return next((g.status for g in self.groups if g.name == group), None)


class Group(_Answer):
    name: str = Field(alias="DBParameterGroupName", max_length=255)
    family: str = Field(alias="DBParameterGroupFamily", max_length=64)


class ClusterGroup(_Answer):
    name: str = Field(alias="DBClusterParameterGroupName", max_length=255)
    family: str = Field(alias="DBParameterGroupFamily", max_length=64)

    def as_group(self) -> Group:
        return Group.model_validate({"DBParameterGroupName": self.name, "DBParameterGroupFamily": self.family})


class Member(_Answer):
    instance: str = Field(alias="DBInstanceIdentifier", max_length=255)
    writer: bool = Field(False, alias="IsClusterWriter")
    status: str = Field("in-sync", alias="DBClusterParameterGroupStatus", max_length=64)


class Cluster(_Answer):
    """An Aurora cluster: its cluster parameter group and members (writer, readers, their apply status)."""

    identifier: str = Field(alias="DBClusterIdentifier", max_length=255)
    group: str | None = Field(None, alias="DBClusterParameterGroup", max_length=255)
    members: tuple[Member, ...] = Field((), alias="DBClusterMembers", max_length=64)


@dataclass(frozen=True)
class Edit:
    """One parameter of a Modify (value) or Reset (value None) call."""

    name: str
    value: str | None
    apply_method: str  # immediate | pending-reboot


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, message = str(error.get("Code", ""))[:100], str(error.get("Message", ""))[:500]
        if code or message:
            return f"{code}: {message}" if code else message
    return str(exc)[:500]


class Client:
    """RDS for one region; one boto3 client, made on first use (boto3 is imported only here).

    boto3 reads an answer whole, however long, and waits as long as a server drips; so pgtune sends
    every request itself (botocore's `before-send` event: the request is signed, its headers and
    body are sent untouched) through the bounded HTTP client: one deadline for the whole call, its
    retries included ($PGTUNE_HTTP_TIMEOUT), and at most MAX_ANSWER bytes of answer. What boto3 then
    cannot parse is the endpoint's fault, said in one line."""

    MAX_ANSWER = 4 * 1024 * 1024  # a page of 100 parameters with their descriptions is ~60 kB

    def __init__(self, region: str | None = None, deadline: float | None = None) -> None:
        self._region = region
        self._client: Any = None
        self.deadline = deadline_from_environment() if deadline is None else deadline
        self._ends = 0.0
        self._http: HttpClient | None = None

    @property
    def rds(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise RdsError("RDS targets need boto3: pip install 'pgtune[aws]'") from None
            config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 4, "mode": "standard"})
            try:
                session = boto3.session.Session(region_name=self._region)
                self._client = session.client("rds", config=config)
                self._client.meta.events.register("before-send.rds", self._send)
                credentials = session.get_credentials()
                if credentials is not None:  # masked wherever pgtune prints, should an error ever quote them
                    frozen = credentials.get_frozen_credentials()
                    remember_secret(frozen.secret_key, frozen.token)
            except Exception as exc:  # NoRegionError, a broken profile: boto3's exceptions vary by cause
                raise RdsError(f"cannot reach RDS: {_describe(exc)} (set AWS_REGION or --rds-region)") from None
        return self._client

    def _send(self, request: Any, **_: Any) -> Any:
        """botocore's before-send hook: the signed request sent by the bounded client."""
        import os
        import time

        from botocore.awsrequest import AWSResponse

        left = self._ends - time.monotonic()
        if left <= 0:
            raise RdsError(f"RDS: no complete answer within {self.deadline:g}s (${DEADLINE_ENV})")
        if self._http is None:
            self._http = HttpClient(
                "RDS", deadline=self.deadline, max_body=self.MAX_ANSWER, error=RdsError, proxies_from_environment=True
            )
            bundle = os.environ.get("AWS_CA_BUNDLE")
            if bundle:
                import ssl

                self._http.verify = ssl.create_default_context(cafile=bundle)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {str(k): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
        answer = self._http.exchange(
            request.method, request.url, headers, body or None, deadline=left, budget=self.deadline
        )
        return AWSResponse(request.url, answer.status, dict(answer.headers), _Raw(answer.body))

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        import time

        from botocore.exceptions import BotoCoreError, ClientError

        client = self.rds
        self._ends = time.monotonic() + self.deadline
        try:
            answer = getattr(client, operation)(**params)
        except RdsError:
            raise
        except (ClientError, BotoCoreError) as exc:
            raise RdsError(f"RDS {operation}: {_describe(exc)}") from None
        except Exception as exc:  # botocore's ResponseParserError and its kin: the answer, not pgtune
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RdsError(
                f"RDS {operation}: the endpoint answered what the RDS API does not ({type(exc).__name__}: "
                f"{shown(first, 160)})"
            ) from None
        if not isinstance(answer, dict):
            raise RdsError(f"RDS {operation}: an answer that is not a document")
        return answer

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[Any]:
        marker: str | None = None
        for _ in range(MAX_PAGES):
            answer = self._call(operation, MaxRecords=PAGE, **params, **({"Marker": marker} if marker else {}))
            rows = answer.get(key) or []
            if not isinstance(rows, list) or len(rows) > PAGE:
                raise RdsError(f"RDS {operation}: a page of more than {PAGE} rows, or not a list")
            yield from rows
            marker = answer.get("Marker")
            if not marker:
                return
        raise RdsError(f"RDS {operation}: more than {MAX_PAGES} pages; pgtune stops reading there")

    def group(self, name: str) -> Group:
        rows = self._call("describe_db_parameter_groups", DBParameterGroupName=name).get("DBParameterGroups") or []
        return _valid(Group, rows[:1], "DescribeDBParameterGroups", f"no parameter group {name!r}")[0]

    def parameters(self, name: str) -> list[GroupParameter]:
        """Every row of the group (user-set and engine defaults: the latter carry the metadata)."""
        return _valid(
            GroupParameter,
            list(self._pages("describe_db_parameters", "Parameters", DBParameterGroupName=name)),
            "DescribeDBParameters",
        )

    def cluster_group(self, name: str) -> Group:
        rows = (
            self._call("describe_db_cluster_parameter_groups", DBClusterParameterGroupName=name).get(
                "DBClusterParameterGroups"
            )
            or []
        )
        found = _valid(
            ClusterGroup, rows[:1], "DescribeDBClusterParameterGroups", f"no cluster parameter group {name!r}"
        )
        return found[0].as_group()

    def cluster_parameters(self, name: str) -> list[GroupParameter]:
        pages = self._pages("describe_db_cluster_parameters", "Parameters", DBClusterParameterGroupName=name)
        return _valid(GroupParameter, list(pages), "DescribeDBClusterParameters")

    def clusters(self) -> list[Cluster]:
        return _valid(Cluster, list(self._pages("describe_db_clusters", "DBClusters")), "DescribeDBClusters")

    def instances(self) -> list[Instance]:
        return _valid(Instance, list(self._pages("describe_db_instances", "DBInstances")), "DescribeDBInstances")

    def instance(self, identifier: str) -> Instance:
        rows = self._call("describe_db_instances", DBInstanceIdentifier=identifier).get("DBInstances") or []
        return _valid(Instance, rows[:1], "DescribeDBInstances", f"no instance {identifier!r}")[0]

    def modify(self, group: str, edits: Sequence[Edit], cluster: bool = False) -> None:
        self._check(edits)
        self._call(
            "modify_db_cluster_parameter_group" if cluster else "modify_db_parameter_group",
            **{_GROUP_KEY[cluster]: group},
            Parameters=[
                {"ParameterName": e.name, "ParameterValue": e.value, "ApplyMethod": e.apply_method} for e in edits
            ],
        )

    def reset(self, group: str, edits: Sequence[Edit], cluster: bool = False) -> None:
        self._check(edits)
        self._call(
            "reset_db_cluster_parameter_group" if cluster else "reset_db_parameter_group",
            **{_GROUP_KEY[cluster]: group},
            ResetAllParameters=False,
            Parameters=[{"ParameterName": e.name, "ApplyMethod": e.apply_method} for e in edits],
        )

    def reboot(self, identifier: str, failover: bool) -> None:
        params: dict[str, Any] = {"DBInstanceIdentifier": identifier}
        if failover:
            params["ForceFailover"] = True
        self._call("reboot_db_instance", **params)

    @staticmethod
    def _check(edits: Sequence[Edit]) -> None:
        if not 0 < len(edits) <= MAX_PER_CALL:
            raise RdsError(f"{len(edits)} parameters in one call: RDS takes 1 to {MAX_PER_CALL}")


M = TypeVar("M", bound=BaseModel)


def _valid(model: type[M], rows: list[Any], operation: str, missing: str | None = None) -> list[M]:
    if missing is not None and not rows:
        raise RdsError(missing)
    try:
        return [model.model_validate(r) for r in rows]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RdsError(f"RDS {operation}: an answer pgtune cannot read ({where}: {first['msg']})") from None
