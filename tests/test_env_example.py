"""`.env.example` documents every setting, and nothing that does not exist."""

from pathlib import Path

from config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def _documented() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip().removeprefix("# ").strip()
        name, sep, _ = line.partition("=")
        if sep and name.isupper() and " " not in name:
            names.add(name)
    return names


def test_every_setting_is_documented():
    assert set(Settings.model_fields) - _documented() == set()


def test_nothing_undocumented_is_invented():
    assert _documented() - set(Settings.model_fields) == set()
