"""The store: SQLAlchemy 2 models, engine set-up, Alembic migrations."""
