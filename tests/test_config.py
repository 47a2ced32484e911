"""Settings validation, database URL selection, and a suite blind to the caller's settings."""

import os

import pytest
from pydantic import ValidationError

from config import ConfigError, Settings, get_settings
from db.database import database_url

STRONG = "x" * 48


def test_production_refuses_default_secret(monkeypatch):
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(ValidationError, match="SECRET_KEY is missing or a placeholder"):
        Settings(ENVIRONMENT="production", _env_file=None)


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-not-a-placeholder"])
def test_production_refuses_placeholder_or_short_secret(secret):
    with pytest.raises(ValidationError):
        Settings(ENVIRONMENT="production", SECRET_KEY=secret, _env_file=None)


def test_production_accepts_strong_secret():
    settings = Settings(ENVIRONMENT="production", SECRET_KEY=STRONG, _env_file=None)
    assert settings.is_production
    assert STRONG not in repr(settings)  # SecretStr never prints


def test_get_settings_explains_in_one_line(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as info:
            get_settings()
        assert "\n" not in str(info.value)
        assert "SECRET_KEY" in str(info.value)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_schema_must_be_an_identifier():
    with pytest.raises(ValidationError, match="DB_SCHEMA"):
        Settings(DB_SCHEMA='dev"; DROP TABLE x; --', _env_file=None)


def test_sqlite_is_the_default():
    url = database_url(Settings(_env_file=None, SQLITE_PATH="data/x.db"))
    assert url.get_backend_name() == "sqlite"
    assert url.database == "data/x.db"


def test_db_fields_build_postgres_url():
    settings = Settings(
        _env_file=None, DB_HOST="db.internal", DB_USER="hub", DB_PASS="pw", DB_NAME="fleet"
    )
    url = database_url(settings)
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "db.internal",
        5432,
        "fleet",
    )
    assert url.password == "pw"


def test_unix_socket_for_cloud_sql():
    settings = Settings(
        _env_file=None,
        INSTANCE_UNIX_SOCKET="/cloudsql/proj:us-central1:fleet",
        DB_USER="hub",
        DB_NAME="fleet",
    )
    url = database_url(settings)
    assert url.host is None
    assert url.query["host"] == "/cloudsql/proj:us-central1:fleet"


def test_database_url_overrides_everything():
    settings = Settings(_env_file=None, DATABASE_URL="postgresql://u@h:6543/d", DB_HOST="ignored")
    url = database_url(settings)
    assert (url.host, url.port, url.database) == ("h", 6543, "d")


@pytest.mark.parametrize("bad", ["not a url", "mysql://u@h/d"])
def test_malformed_or_unsupported_database_url(bad):
    with pytest.raises(ConfigError):
        database_url(Settings(_env_file=None, DATABASE_URL=bad))


def test_the_suite_sees_only_the_settings_conftest_sets():
    """A caller's exported settings (DEMO_ADMIN_PASSWORD, DATABASE_URL…) are stripped."""
    leaked = {name for name in Settings.model_fields if name in os.environ}
    assert leaked == {"ENVIRONMENT", "SECRET_KEY", "SERVICE_API_KEY", "SQLITE_PATH", "LOG_FORMAT",
                      "LOG_LEVEL", "PROCESS_TUNING", "TRACK_VIEW_CACHE_SECONDS"}  # fmt: skip


def test_a_dotenv_in_the_working_directory_is_not_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DEMO_ADMIN_PASSWORD=from-dotenv\nDB_SCHEMA=elsewhere\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.DEMO_ADMIN_PASSWORD.get_secret_value() == ""
    assert settings.DB_SCHEMA == get_settings().DB_SCHEMA != "elsewhere"
