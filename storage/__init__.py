"""Database models, repository functions (they never commit) and Alembic migrations."""
