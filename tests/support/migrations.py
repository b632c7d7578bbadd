"""The head revision of the migrations, so tests don't break each time one is added."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from hotline_ops.store.db import _alembic_config

HEAD = ScriptDirectory.from_config(_alembic_config()).get_current_head()
