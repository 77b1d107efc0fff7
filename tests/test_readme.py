"""The README's code runs as written, and its first lines are the two commands CI relies on."""

from __future__ import annotations

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_api_block_runs(tmp_path, monkeypatch):
    block = re.search(r"# <!-- START readme-api -->\n(.*?)# <!-- END readme-api -->", README, re.S)
    assert block, "README lost its readme-api block"
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert (tmp_path / "my_tokenizer" / "tokenizer.json").is_file()


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert first == [
        "bash scripts/install.sh && .venv/bin/ecgbyte demo",
        "bash scripts/install.sh && .venv/bin/python -m pytest",
    ]
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == first[1]
