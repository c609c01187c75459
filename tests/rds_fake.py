"""A behaviour fake of the RDS API for the parameter-group target, served over HTTP so boto3 reaches
it through AWS_ENDPOINT_URL exactly as it reaches AWS (or moto's server): botocore serialises every
request and parses every answer, and both are read and written from botocore's own service model
(the Query protocol's form fields in, XML out), so a request shape pgtune gets wrong fails here.

What it encodes, each behaviour a test in tests/test_rds.py with its source:
- at most 20 parameters per ModifyDBParameterGroup / ResetDBParameterGroup (RDS API reference);
- `immediate` is refused for a static parameter (InvalidParameterCombination, RDS API reference);
- a change of the apply method alone is ignored (crossplane-contrib/provider-upjet-aws #2182);
- a static value runs only after RebootDBInstance; until then the instance reports pending-reboot
  (terraform-provider-aws #40089); a dynamic one runs once RDS has applied it (`applying`, then in-sync);
- a formula RDS's grammar refuses, a value outside AllowedValues, an unmodifiable parameter:
  InvalidParameterValue;
- DescribeDBParameters pages by 100 with a Marker and filters on Source.

Engine defaults come from pgtune's bundled settings catalogs (pg_settings of real servers): the
type, allowed values and apply type of every parameter, with RDS's formulas for the four it
computes. An instance backed by a real PostgreSQL gets the group's values written into it when RDS
would apply them (ALTER SYSTEM, then a reload, or a restart on reboot), so the SQL half is real.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.session
from botocore.validate import ParamValidator

from pgtune.integrations.rds import classes
from pgtune.integrations.rds.formula import FormulaError, looks_like_formula, parse
from tests.fake_endpoint import FakeEndpoint

MODEL = botocore.session.get_session().get_service_model("rds")
NAMESPACE = "http://rds.amazonaws.com/doc/2014-10-31/"
MAX_PER_CALL = 20
RESERVED = 0.05
"""The share of a class's memory the fake's RDS keeps for itself (DBInstanceClassMemory is less
than the class's memory; AWS does not publish how much)."""
RDS_FORMULAS = {
    "shared_buffers": "{DBInstanceClassMemory/32768}",
    "effective_cache_size": "{DBInstanceClassMemory/16384}",
    "max_connections": "LEAST({DBInstanceClassMemory/9531392},5000)",
    "maintenance_work_mem": "GREATEST({DBInstanceClassMemory*1024/63963136},65536)",
}
"""RDS for PostgreSQL's engine defaults that are formulas (its default parameter groups)."""
NOT_MODIFIABLE = {"port", "listen_addresses", "data_directory", "config_file", "hba_file", "ident_file"}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# --- the Query protocol, from the service model ---------------------------------------------


def _read(shape: Any, form: dict[str, str], prefix: str) -> Any:
    if shape.type_name == "structure":
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = _read(member, form, f"{prefix}.{key}" if prefix else key)
            if value is not None:
                out[name] = value
        return out if out or not prefix else None
    if shape.type_name == "list":
        name = shape.member.serialization.get("name", "member")
        items, i = [], 1
        while any(k == f"{prefix}.{name}.{i}" or k.startswith(f"{prefix}.{name}.{i}.") for k in form):
            items.append(_read(shape.member, form, f"{prefix}.{name}.{i}"))
            i += 1
        return items or None
    if prefix not in form:
        return None
    text = form[prefix]
    if shape.type_name == "boolean":
        return text == "true"
    if shape.type_name in ("integer", "long"):
        return int(text)
    return text


def _xml(shape: Any, value: Any, name: str) -> str:
    if shape.type_name == "structure":
        inner = "".join(
            _xml(m, value[n], m.serialization.get("name", n)) for n, m in shape.members.items() if n in value
        )
        return f"<{name}>{inner}</{name}>"
    if shape.type_name == "list":
        item = shape.member.serialization.get("name", "member")
        return f"<{name}>" + "".join(_xml(shape.member, v, item) for v in value) + f"</{name}>"
    if shape.type_name == "boolean":
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def _answer(operation: str, result: dict[str, Any]) -> str:
    op = MODEL.operation_model(operation)
    if op.output_shape is not None:
        report = ParamValidator().validate(result, op.output_shape)
        if report.has_errors():  # the fake must answer what the model says, or the test proves nothing
            raise AssertionError(f"fake answer for {operation} breaks the service model: {report.generate_report()}")
        body = _xml(op.output_shape, result, op.output_shape.serialization["resultWrapper"])
    else:
        body = ""
    return (
        f'<{operation}Response xmlns="{NAMESPACE}">{body}'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{operation}Response>"
    )


def _error(exc: ApiError) -> str:
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
        f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


# --- engine defaults from the bundled catalogs ------------------------------------------------

_DATA_TYPES = {"bool": "boolean", "integer": "integer", "real": "float", "enum": "string", "string": "string"}


def engine_defaults(version: int) -> dict[str, dict[str, Any]]:
    text = resources.files("pgtune").joinpath("data", f"settings-pg{version}.json").read_text(encoding="utf-8")
    out: dict[str, dict[str, Any]] = {}
    for row in json.loads(text)["settings"]:
        name, vartype = row["name"], row["vartype"]
        if row["context"] == "internal":
            continue
        allowed = None
        if vartype == "bool":
            allowed = "0,1"
        elif vartype in ("integer", "real") and row.get("min_val") is not None:
            allowed = f"{row['min_val']}-{row['max_val']}"
        elif vartype == "enum":
            allowed = ",".join(row.get("enumvals") or [])
        value = RDS_FORMULAS.get(name, row.get("boot_val"))
        entry = {
            "ParameterName": name,
            "Description": row.get("short_desc") or name,
            "Source": "engine-default",
            "ApplyType": "static" if row["context"] == "postmaster" else "dynamic",
            "DataType": "list" if name.endswith("_libraries") else _DATA_TYPES[vartype],
            "IsModifiable": name not in NOT_MODIFIABLE,
            "ApplyMethod": "pending-reboot",
        }
        if value not in (None, ""):
            entry["ParameterValue"] = str(value)
        if allowed:
            entry["AllowedValues"] = allowed
        out[name] = entry
    return out


# --- the fake ---------------------------------------------------------------------------------


@dataclass
class FakeInstance:
    identifier: str
    group: str
    instance_class: str = "db.t3.micro"
    host: str = "127.0.0.1"
    port: int = 5432
    replica_of: str | None = None
    apply: Callable[[dict[str, str | None], bool], None] | None = None  # write values into a real server
    status: str = "available"
    apply_status: str = "in-sync"
    running: dict[str, str] = field(default_factory=dict)  # what the fake has written into the server
    cluster: str | None = None  # an Aurora cluster's member
    writer: bool = True  # an Aurora member's role
    multi_az: bool = False
    cluster_status: str = "in-sync"  # DBClusterParameterGroupStatus
    applying: dict[str, str | None] = field(default_factory=dict)  # immediate values RDS has yet to apply
    reboots: int = 0

    def memory(self) -> int:
        cls = classes.lookup(self.instance_class)
        assert cls is not None
        return int(cls.memory * (1 - RESERVED))


@dataclass
class Group:
    name: str
    family: str
    user: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {value, method}
    cluster: bool = False
    only: frozenset[str] | None = None  # the parameters this group offers (None: every engine default)


@dataclass
class FakeRds:
    version: int = 16
    groups: dict[str, Group] = field(default_factory=dict)
    instances: dict[str, FakeInstance] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.defaults = engine_defaults(self.version)
        endpoint = FakeEndpoint()
        endpoint.routes[("POST", "/")] = self._handle
        self.endpoint = endpoint

    @property
    def url(self) -> str:
        return self.endpoint.url

    def close(self) -> None:
        self.endpoint.close()

    clusters: dict[str, str] = field(default_factory=dict)  # Aurora cluster -> its cluster parameter group

    def add_group(self, name: str) -> Group:
        self.groups[name] = Group(name, f"postgres{self.version}")
        return self.groups[name]

    def add_cluster(self, identifier: str, group: str, only: frozenset[str]) -> Group:
        """An Aurora cluster and its cluster parameter group, which offers `only` these parameters
        (the cluster-level ones); its members' DB parameter group then lacks them."""
        self.groups[group] = Group(group, f"aurora-postgresql{self.version}", cluster=True, only=only)
        self.clusters[identifier] = group
        return self.groups[group]

    def add_instance(self, instance: FakeInstance) -> FakeInstance:
        self.instances[instance.identifier] = instance
        return instance

    def calls_of(self, action: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == action]

    # -- HTTP ------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))  # type: ignore[attr-defined]
        action = form.pop("Action", "")
        form.pop("Version", None)
        try:
            try:
                op = MODEL.operation_model(action)
            except Exception:
                raise ApiError("InvalidAction", f"no action {action}") from None
            params = _read(op.input_shape, form, "") if op.input_shape is not None else {}
            handler = getattr(self, f"_{action}", None)
            if handler is None:
                raise ApiError("InvalidAction", f"the fake does not implement {action}")
            with self.lock:
                self.calls.append((action, params))
                status, body = 200, _answer(action, handler(params))
        except ApiError as exc:
            status, body = exc.status, _error(exc)
        data = body.encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/xml")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    # -- the behaviours --------------------------------------------------------------------------

    def _group(self, name: str, cluster: bool = False) -> Group:
        group = self.groups.get(name)
        if group is None or group.cluster != cluster:
            kind = "DBClusterParameterGroup" if cluster else "DBParameterGroup"
            raise ApiError(f"{kind}NotFound", f"{kind} {name} not found.", 404)
        return group

    def _offers(self, group: Group) -> list[str]:
        if group.only is not None:
            return [n for n in self.defaults if n in group.only]
        cluster_only = {n for g in self.groups.values() if g.cluster and g.only for n in g.only}
        return [n for n in self.defaults if n not in cluster_only]

    def _DescribeDBParameterGroups(self, p: dict[str, Any]) -> dict[str, Any]:
        groups = [self._group(p["DBParameterGroupName"])] if "DBParameterGroupName" in p else self.groups.values()
        return {
            "DBParameterGroups": [
                {"DBParameterGroupName": g.name, "DBParameterGroupFamily": g.family, "Description": g.name}
                for g in groups
            ]
        }

    def _rows(self, group: Group) -> list[dict[str, Any]]:
        out = []
        for name in self._offers(group):
            row = dict(self.defaults[name])
            if name in group.user:
                row |= {"ParameterValue": group.user[name]["value"], "Source": "user"}
                row["ApplyMethod"] = group.user[name]["method"]
            out.append(row)
        return out

    def _DescribeDBParameters(self, p: dict[str, Any]) -> dict[str, Any]:
        rows = self._rows(p.get("_group") or self._group(p["DBParameterGroupName"]))
        if p.get("Source"):
            rows = [r for r in rows if r["Source"] == p["Source"]]
        size = min(int(p.get("MaxRecords", 100)), 100)
        start = int(p.get("Marker", "0"))
        page = rows[start : start + size]
        out: dict[str, Any] = {"Parameters": page}
        if start + size < len(rows):
            out["Marker"] = str(start + size)
        return out

    def _check_value(self, group: Group, name: str, value: str) -> None:
        row = self.defaults.get(name)
        if row is None or name not in self._offers(group):
            raise ApiError("InvalidParameterValue", f"Could not find parameter with name: {name}")
        if not row["IsModifiable"]:
            raise ApiError("InvalidParameterValue", f"The parameter {name} cannot be modified.")
        if looks_like_formula(value):
            try:
                parse(value)
            except FormulaError as exc:
                raise ApiError(
                    "InvalidParameterValue", f"Invalid parameter value: {value} for: {name} ({exc})"
                ) from None
            return
        allowed = row.get("AllowedValues")
        if not allowed:
            return
        if row["DataType"] in ("integer", "float") and "-" in allowed[1:]:
            lo, _, hi = allowed.rpartition("-") if allowed.startswith("-") else allowed.partition("-")
            try:
                ok = float(lo) <= float(value) <= float(hi)
            except ValueError:
                ok = False
        elif row["DataType"] in ("boolean",) or (row["DataType"] == "string" and "," in allowed):
            ok = value.lower() in {w.lower() for w in allowed.split(",")}
        else:
            ok = True
        if not ok:
            raise ApiError(
                "InvalidParameterValue",
                f"Invalid parameter value: {value} for: {name} allowed values are: {allowed}",
            )

    def _ModifyDBParameterGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._modify(self._group(p["DBParameterGroupName"]), p)

    def _ModifyDBClusterParameterGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        self._modify(self._group(p["DBClusterParameterGroupName"], cluster=True), p)
        return {"DBClusterParameterGroupName": p["DBClusterParameterGroupName"]}

    def _modify(self, group: Group, p: dict[str, Any]) -> dict[str, Any]:
        params = p.get("Parameters") or []
        if not 0 < len(params) <= MAX_PER_CALL:
            raise ApiError("InvalidParameterValue", "Specify between 1 and 20 parameters to modify.")
        for item in params:  # all or nothing: every parameter is checked before any is stored
            name, value, method = item["ParameterName"], item.get("ParameterValue"), item.get("ApplyMethod")
            if value is None:
                raise ApiError("InvalidParameterValue", f"No value given for {name}")
            self._check_value(group, name, value)
            static = self.defaults[name]["ApplyType"] == "static"
            if static and method == "immediate":
                raise ApiError("InvalidParameterCombination", "cannot use immediate apply method for static parameter")
        for item in params:
            name, value, method = item["ParameterName"], item["ParameterValue"], item["ApplyMethod"]
            stored = group.user.get(name)
            if stored is not None and stored["value"] == value:
                continue  # the apply method alone changed: ignored, as RDS does
            group.user[name] = {"value": value, "method": method}
            self._changed(group, name, value, method)
        return {"DBParameterGroupName": group.name}

    def _ResetDBParameterGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._reset(self._group(p["DBParameterGroupName"]), p)

    def _ResetDBClusterParameterGroup(self, p: dict[str, Any]) -> dict[str, Any]:
        self._reset(self._group(p["DBClusterParameterGroupName"], cluster=True), p)
        return {"DBClusterParameterGroupName": p["DBClusterParameterGroupName"]}

    def _reset(self, group: Group, p: dict[str, Any]) -> dict[str, Any]:
        params = p.get("Parameters") or []
        if p.get("ResetAllParameters"):
            params = [{"ParameterName": n, "ApplyMethod": "pending-reboot"} for n in group.user]
        elif not 0 < len(params) <= MAX_PER_CALL:
            raise ApiError("InvalidParameterValue", "Specify between 1 and 20 parameters to reset.")
        for item in params:
            name = item["ParameterName"]
            if name in group.user:
                del group.user[name]
                static = self.defaults[name]["ApplyType"] == "static"
                self._changed(group, name, None, "pending-reboot" if static else item.get("ApplyMethod", "immediate"))
        return {"DBParameterGroupName": group.name}

    def _uses(self, inst: FakeInstance, group: Group) -> bool:
        if group.cluster:
            return inst.cluster is not None and self.clusters.get(inst.cluster) == group.name
        return inst.group == group.name

    def _changed(self, group: Group, name: str, value: str | None, method: str) -> None:
        static = self.defaults[name]["ApplyType"] == "static"
        for inst in self.instances.values():
            if not self._uses(inst, group):
                continue
            if static or method == "pending-reboot":
                if group.cluster:
                    inst.cluster_status = "pending-reboot"
                else:
                    inst.apply_status = "pending-reboot"
            else:
                inst.applying[name] = value
                if inst.apply_status != "pending-reboot":
                    inst.apply_status = "applying"

    def _value_for(self, inst: FakeInstance, value: str) -> str:
        if not looks_like_formula(value):
            return value
        variables = {"DBInstanceClassMemory": inst.memory(), "TrueIfReplica": 1 if inst.replica_of else 0}
        return str(int(parse(value).evaluate(variables)))

    def _write(self, inst: FakeInstance, values: dict[str, str | None], restart: bool) -> None:
        if inst.apply is not None:
            inst.apply({k: None if v is None else self._value_for(inst, v) for k, v in values.items()}, restart)

    def _settle(self) -> None:
        """RDS applies `immediate` values a little after the call: on the next look at the instances."""
        for inst in self.instances.values():
            if inst.applying:
                self._write(inst, dict(inst.applying), False)
                for name, value in inst.applying.items():
                    if value is None:
                        inst.running.pop(name, None)
                    else:
                        inst.running[name] = value
                inst.applying.clear()
                if inst.apply_status == "applying":
                    inst.apply_status = "in-sync"

    def _instance_doc(self, inst: FakeInstance) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "DBInstanceIdentifier": inst.identifier,
            "DBInstanceClass": inst.instance_class,
            "Engine": "postgres",
            "EngineVersion": f"{self.version}.4",
            "DBInstanceStatus": inst.status,
            "Endpoint": {"Address": inst.host, "Port": inst.port},
            "AllocatedStorage": 20,
            "MultiAZ": inst.multi_az,
            "DBParameterGroups": [{"DBParameterGroupName": inst.group, "ParameterApplyStatus": inst.apply_status}],
        }
        if inst.replica_of:
            doc["ReadReplicaSourceDBInstanceIdentifier"] = inst.replica_of
        if inst.cluster:
            doc["DBClusterIdentifier"] = inst.cluster
            doc["Engine"] = "aurora-postgresql"
        return doc

    def _DescribeDBClusterParameterGroups(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p["DBClusterParameterGroupName"], cluster=True)
        return {
            "DBClusterParameterGroups": [
                {"DBClusterParameterGroupName": group.name, "DBParameterGroupFamily": group.family, "Description": "c"}
            ]
        }

    def _DescribeDBClusterParameters(self, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(p["DBClusterParameterGroupName"], cluster=True)
        return self._DescribeDBParameters({**p, "DBParameterGroupName": group.name, "_group": group})

    def _DescribeDBClusters(self, p: dict[str, Any]) -> dict[str, Any]:
        self._settle()
        out = []
        for identifier, group in sorted(self.clusters.items()):
            members = [i for i in self.instances.values() if i.cluster == identifier]
            out.append(
                {
                    "DBClusterIdentifier": identifier,
                    "DBClusterParameterGroup": group,
                    "Status": "available",
                    "Engine": "aurora-postgresql",
                    "DBClusterMembers": [
                        {
                            "DBInstanceIdentifier": m.identifier,
                            "IsClusterWriter": m.writer,
                            "DBClusterParameterGroupStatus": m.cluster_status,
                        }
                        for m in members
                    ],
                }
            )
        return {"DBClusters": out}

    def _DescribeDBInstances(self, p: dict[str, Any]) -> dict[str, Any]:
        self._settle()
        found = list(self.instances.values())
        if "DBInstanceIdentifier" in p:
            found = [i for i in found if i.identifier == p["DBInstanceIdentifier"]]
            if not found:
                raise ApiError("DBInstanceNotFound", f"DBInstance {p['DBInstanceIdentifier']} not found.", 404)
        return {"DBInstances": [self._instance_doc(i) for i in found]}

    def _RebootDBInstance(self, p: dict[str, Any]) -> dict[str, Any]:
        inst = self.instances.get(p["DBInstanceIdentifier"])
        if inst is None:
            raise ApiError("DBInstanceNotFound", f"DBInstance {p['DBInstanceIdentifier']} not found.", 404)
        if inst.status != "available":
            raise ApiError("InvalidDBInstanceState", f"DBInstance {inst.identifier} is {inst.status}")
        if p.get("ForceFailover") and not inst.multi_az:
            raise ApiError("InvalidParameterCombination", "ForceFailover needs a Multi-AZ instance")
        wanted: dict[str, str | None] = {}
        if inst.cluster is not None:  # the cluster group first: the DB parameter group's values win over it
            wanted |= {n: row["value"] for n, row in self.groups[self.clusters[inst.cluster]].user.items()}
        wanted |= {name: row["value"] for name, row in self.groups[inst.group].user.items()}
        wanted |= {name: None for name in inst.running if name not in wanted}
        self._write(inst, wanted, True)
        inst.running = {k: v for k, v in wanted.items() if v is not None}
        inst.applying.clear()
        inst.apply_status = inst.cluster_status = "in-sync"
        inst.reboots += 1
        return {"DBInstance": self._instance_doc(inst)}
