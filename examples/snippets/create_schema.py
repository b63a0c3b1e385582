"""Create saas-core's schema in a SQLite file and list what it made.

The database file is ``$SAAS_CORE_EXAMPLE_DB`` when that is set, otherwise a new file in a fresh
temporary directory. Run it from anywhere: ``python examples/snippets/create_schema.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import sqlalchemy as sa

from saas_core import migrations

db_path = Path(
    os.environ.get("SAAS_CORE_EXAMPLE_DB")
    or Path(tempfile.mkdtemp(prefix="saas-core-")) / "app.sqlite3"
)
url = f"sqlite:///{db_path}"

# The same migrations `saas-core db upgrade --database-url URL` runs.
migrations.upgrade(url)

engine = sa.create_engine(url)
inspector = sa.inspect(engine)
tables = inspector.get_table_names()
views = inspector.get_view_names()
engine.dispose()

print(f"{db_path}: revision {migrations.current(url)}")
print(f"{len(tables)} tables:")
for name in tables:
    print(f"  {name}")
print(f"views: {', '.join(views)}")
