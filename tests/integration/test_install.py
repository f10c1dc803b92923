"""A fresh install with the pip that ``python -m venv`` ships cleans HTML to non-empty text.

Issue 13: with pip 23.x, ``pip install -e .`` did not pull ``lxml_html_clean``, trafilatura
failed to import in the extraction process and every HTML article came out empty. The project
now declares the module itself. This test builds a new venv with the interpreter running the
tests, does NOT upgrade its pip, installs the repository (the machine's pip cache makes this a
couple of minutes rather than a download), and cleans one HTML page in that venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent("""
    from workers.records import CleanedArticle, RawArticle
    from workers.settings import Settings
    from workers.stages.clean import make_cleaner

    page = ("<html><head><title>Ferry timetable</title></head><body><nav><a href='/'>Home</a>"
            "</nav><article><h1>Ferry timetable changes</h1><p>The island ferry will sail "
            "hourly from Monday, the operator said, after new crew joined the service.</p>"
            "<p>Passengers had waited up to three hours at the harbour during the summer.</p>"
            "</article><footer>We use cookies to improve this site.</footer></body></html>")
    cleaner = make_cleaner(Settings())
    try:
        problem = cleaner.readiness_problem()
        assert problem is None, problem
        out = cleaner.clean(RawArticle(id="p", body=page, content_type="text/html"))
        assert isinstance(out, CleanedArticle), out
        assert "ferry will sail hourly" in out.text, out.text
        print("OK", len(out.text))
    finally:
        cleaner.close()
""")


def test_fresh_venv_with_shipped_pip_cleans_html(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    pip_version = subprocess.run([str(python), "-m", "pip", "--version"], check=True,
                                 capture_output=True, text=True).stdout
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)  # the venv must import its own install, not the worktree
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)],
                             capture_output=True, text=True, timeout=1800, env=env)
    assert install.returncode == 0, f"{pip_version}\n{install.stderr[-3000:]}"
    run = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True,
                         timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("OK"), \
        f"{pip_version}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
