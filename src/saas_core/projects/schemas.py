"""Pydantic models the projects service takes in and hands out. Only public ids appear in them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from saas_core.api.pagination import PageQuery
from saas_core.projects.models import Project, ProjectStatus


class ProjectCreate(BaseModel):
    """A new project in the active tenant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ProjectUpdate(BaseModel):
    """Changes to a project; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    status: ProjectStatus | None = None
    metadata: dict[str, Any] | None = None


class ProjectQuery(PageQuery):
    """Query of the project list: a page, optionally one status."""

    status: ProjectStatus | None = None


class ProjectOut(BaseModel):
    """A project as the API shows it."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    description: str | None
    status: ProjectStatus
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, project: Project) -> ProjectOut:
        """The API form of ``project``."""
        return cls(
            id=project.public_id,
            name=project.name,
            description=project.description,
            status=project.status,
            metadata=dict(project.metadata_),
            created_at=project.created_at,
            updated_at=project.updated_at,
        )
