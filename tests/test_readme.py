"""The README's Python example runs as printed."""

import pathlib
import re


def test_readme_python_example_runs(capsys):
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    loss = float(re.search(r"loss after 200 steps: ([0-9.]+)", out).group(1))
    assert loss < 0.05, out
    assert "bias_hh_l0" in out
