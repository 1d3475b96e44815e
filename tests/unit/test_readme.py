"""The README documents every environment variable that config.py reads."""
import re

from tests.conftest import ROOT

ENV_READ = re.compile(r"""(?:environ\.get|_env_int|_env_bool|_env_list)\(\s*["']([A-Z][A-Z0-9_]+)["']""")
ALSO_DOCUMENTED = {"PORT", "TEST_DATABASE_URL", "TEST_REDIS_URL"}


def documented_variables():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))


def test_every_variable_config_reads_is_in_the_readme_table():
    read = set(ENV_READ.findall((ROOT / "config.py").read_text(encoding="utf-8")))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MUSTER_ENV"} <= read  # the pattern still matches
    missing = (read | ALSO_DOCUMENTED) - documented_variables()
    assert not missing, f"add {sorted(missing)} to the configuration table in README.md"
