from tests.store.dbfixtures import db_url, pg_database  # noqa: F401
