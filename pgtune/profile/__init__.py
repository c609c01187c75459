"""Profiles: YAML files declaring desired state, loaded with positions and validated by pydantic."""

from pgtune.profile.loader import load_profile
from pgtune.profile.model import Profile

__all__ = ["Profile", "load_profile"]
