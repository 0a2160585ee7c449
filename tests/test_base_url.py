"""Links in emails reach the server that sent them: BASE_URL follows the served
address in development, and must be given in production."""

from __future__ import annotations

import pytest

from coalition.config import ConfigError, check_production, load_config


@pytest.fixture
def env(monkeypatch):
    for name in ("BASE_URL", "HOST", "PORT", "COALITION_ENV"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "http://127.0.0.1:5000"),
        ({"PORT": "5101"}, "http://127.0.0.1:5101"),
        ({"HOST": "0.0.0.0", "PORT": "5101"}, "http://127.0.0.1:5101"),  # noqa: S104
        ({"HOST": "192.168.1.20", "PORT": "8080"}, "http://192.168.1.20:8080"),
        ({"HOST": "::1", "PORT": "5101"}, "http://[::1]:5101"),
        ({"PORT": "5101", "BASE_URL": "https://dev.example.org/"}, "https://dev.example.org"),
    ],
)
def test_base_url_in_development_follows_the_served_address(env, tmp_path, variables, expected):
    for name, value in variables.items():
        env.setenv(name, value)
    assert load_config(str(tmp_path))["BASE_URL"] == expected


def test_production_refuses_to_start_without_base_url(env, tmp_path):
    env.setenv("COALITION_ENV", "production")
    env.setenv("PORT", "8000")
    config = load_config(str(tmp_path))
    assert config["BASE_URL"] == ""  # never guessed from the port in production
    with pytest.raises(ConfigError, match="BASE_URL is not set"):
        check_production(config)
    env.setenv("BASE_URL", "https://coalition.example.org")
    assert load_config(str(tmp_path))["BASE_URL"] == "https://coalition.example.org"
