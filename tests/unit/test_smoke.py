from sqlalchemy.orm import Session

from saas_core.identity.models import User
from tests.support.databases import TestDatabase


def test_user_roundtrip(db: TestDatabase) -> None:
    with Session(db.engine) as session:
        session.add(User(email="a@example.com"))
        session.commit()
        user = session.query(User).one()
        assert user.created_at.tzinfo is not None
        assert user.public_id.version == 7
