"""Every setting is defined once; the environment, flags and the README agree with that definition."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from jaan.settings import PROJECT_ROOT, Settings, markdown_table, redact_url


def test_defaults_match_the_issue():
    settings = Settings.from_env({})
    assert (settings.pool_min, settings.pool_max) == (10, 50)
    assert settings.connect_timeout == 2.0
    assert settings.statement_timeout == 60.0
    assert settings.pool_recycle == 30.0
    assert settings.request_timeout == 60.0
    assert settings.max_body_size == 1024 * 1024
    assert settings.max_upload_size == 50 * 1024 * 1024
    assert settings.cors_origins == ()  # no hard-coded origin
    assert settings.data_dir == PROJECT_ROOT / "var"
    assert settings.database_url is None


def test_environment_is_read_and_typed():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://shop:pw@db/jaan",
            "JAAN_PORT": "8080",
            "JAAN_POOL_MAX": "20",
            "JAAN_REQUEST_TIMEOUT": "2.5",
            "JAAN_LOG_JSON": "yes",
            "JAAN_CORS_ORIGINS": "https://shop.example, https://admin.shop.example",
            "JAAN_DATA_DIR": "/srv/jaan",
        }
    )
    assert settings.port == 8080 and settings.pool_max == 20 and settings.request_timeout == 2.5
    assert settings.log_json is True
    assert settings.cors_origins == ("https://shop.example", "https://admin.shop.example")
    assert settings.data_dir == Path("/srv/jaan")
    assert settings.run_dir == Path("/srv/jaan/run")


def test_flags_override_the_environment():
    assert Settings.from_env({"JAAN_PORT": "8080"}, port=9000).port == 9000
    assert Settings.from_env({"JAAN_PORT": "8080"}, port=None).port == 8080


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("JAAN_PORT", "eighty"),
        ("JAAN_LOG_JSON", "maybe"),
        ("JAAN_POOL_MIN", "90"),
        ("JAAN_CORS_ORIGINS", "*"),
        ("JAAN_REQUEST_TIMEOUT", "0"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(env, value):
    with pytest.raises(ValueError):
        Settings.from_env({env: value})


def test_every_setting_has_an_environment_variable_and_a_meaning():
    envs = [f.metadata["env"] for f in dataclasses.fields(Settings)]
    assert len(envs) == len(set(envs))
    assert all(f.metadata["meaning"] for f in dataclasses.fields(Settings))


def test_secrets_are_redacted():
    assert redact_url("postgresql://shop:s3cret@db:5432/jaan") == "postgresql://shop:***@db:5432/jaan"
    assert redact_url("host=db password=s3cret dbname=jaan") == "host=db password=*** dbname=jaan"
    shown = Settings.from_env({"DATABASE_URL": "postgresql://shop:s3cret@db/jaan"}).redacted()
    assert "s3cret" not in str(shown)


def test_readme_configuration_table_matches_the_definition():
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"<!-- settings:begin -->\n(.*?)\n<!-- settings:end -->", readme, re.S)
    assert block, "README.md lacks the settings block"
    assert block.group(1).strip() == markdown_table(), (
        "README's configuration table is stale: paste the output of `python -m jaan.settings`"
    )
