"""`validate_profile` validates a document with a root of only the top-level keys it has (so a
profile of settings builds no table, pool or check validator): it must give what the whole
`Profile` model gives — the same profile for a good document, the same errors at the same paths for
a bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pgtune.profile.loader import resolve_document
from pgtune.profile.model import Profile, validate_profile
from tests.conftest import budget

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted([*REPO.glob("profiles/*.yaml"), REPO / "examples" / "letta" / "demo.yaml"])


def outcome(validate: Any, data: object) -> tuple[str, Any]:
    try:
        return "ok", validate(data).model_dump()
    except ValidationError as exc:
        return "errors", sorted((e["loc"], e["type"], e["msg"]) for e in exc.errors())


def test_every_shipped_profile_validates_alike() -> None:
    for path in SHIPPED:
        data, _ = resolve_document(path, ())
        assert outcome(validate_profile, data) == outcome(Profile.model_validate, data), path
        assert validate_profile(data).model_fields_set == Profile.model_validate(data).model_fields_set


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=6),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.sampled_from(["work_mem", "x", "columns", "storage"]), st.text(max_size=4), max_size=2),
)
KEYS = st.sampled_from([*Profile.model_fields, "tabels", "setings", "pools"])


@settings(max_examples=budget(300), deadline=None)
@given(
    base=st.sampled_from(SHIPPED),
    changes=st.dictionaries(KEYS, VALUES, max_size=3),
    dropped=st.sets(st.sampled_from(list(Profile.model_fields)), max_size=2),
)
def test_mutated_documents_validate_alike(base: Path, changes: dict[str, Any], dropped: set[str]) -> None:
    data, _ = resolve_document(base, ())
    mutated = {k: v for k, v in {**data, **changes}.items() if k not in dropped}
    assert outcome(validate_profile, mutated) == outcome(Profile.model_validate, mutated)


def test_not_a_mapping_is_refused_alike() -> None:
    for data in (None, [], "name: x", 3):
        assert outcome(validate_profile, data) == outcome(Profile.model_validate, data)
