"""`make test` installs what it needs: Chromium for the browser tests (the README's promise).

`scripts/ensure-chromium` runs before pytest. As root with apt-get it installs Debian's
`chromium` when the browser is missing; otherwise it stops, before any test runs, with one line
naming the command. (The whole path was also checked by hand: `apt-get remove chromium`, then
`make test` on a fresh clone.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "ensure-chromium"


def run(env: dict[str, str], *, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = ["bash", str(SCRIPT)]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_make_test_ensures_chromium_before_pytest():
    plan = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"], cwd=ROOT, capture_output=True, text=True
    ).stdout.splitlines()
    first = next(i for i, line in enumerate(plan) if "ensure-chromium" in line)
    pytest_line = next(i for i, line in enumerate(plan) if "-m pytest" in line)
    assert first < pytest_line, plan


def test_present_chromium_is_left_alone(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    res = run({**os.environ, "NBML_CHROMIUM": str(browser)})
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_without_root_one_line_names_the_command(tmp_path):
    env = {"PATH": os.environ["PATH"], "NBML_CHROMIUM": str(tmp_path / "missing" / "chromium")}
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.fail("runuser (util-linux) is needed to run the check as another user")
        res = run(env, user="nobody")
    else:
        res = run(env)
    assert res.returncode == 1, res
    assert res.stdout == "", res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "sudo apt-get install chromium" in lines[0]
    assert str(tmp_path / "missing" / "chromium") in lines[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs only as root")
def test_as_root_a_missing_chromium_is_installed_with_apt(tmp_path):
    """apt-get is replaced by a recorder that "installs" the browser where it is looked for."""
    browser = tmp_path / "bin" / "chromium"
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    log = tmp_path / "apt.log"
    (fake / "apt-get").write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'case "$*" in *install*) mkdir -p {browser.parent}; printf "#!/bin/sh\\n" > {browser};'
        f" chmod +x {browser};; esac\n"
    )
    (fake / "apt-get").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "NBML_CHROMIUM": str(browser)}
    res = run(env)
    assert res.returncode == 0, res
    assert "installing Debian's chromium" in res.stdout
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
