"""The Alembic head revision, read from the migration scripts: the integrator re-chains every
branch's migration at merge time, so tests name the head instead of a fixed id."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from hotline_ops.store.db import _alembic_config

HEAD = ScriptDirectory.from_config(_alembic_config()).get_current_head()
