"""What the base install (`pip install .`, no extras) can run, checked inside the test environment,
which has every extra installed.

A subprocess sees only what the base install would bring (the transitive requirements of
`pettrack` without extras), not the extras, pytest or what they pull in (pandas came in through
sleap-io before pandas was declared). In it, every module of
pettrack imports, every command answers --help, and the main job runs on the sample clip with
its plot. deptry checks the declarations themselves (missing, transitive, misplaced).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_distributions() -> set[str]:
    """The distributions a base install of pettrack brings: its requirements without extras,
    transitively, markers evaluated for this interpreter."""
    seen, todo = set(), ["pettrack"]
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


@pytest.fixture(scope="module")
def base_site(tmp_path_factory) -> Path:
    """A site folder holding only the base install: links to the installed files of the base
    distributions (pettrack's editable finder included). A subprocess started with -S and this
    folder as its only site sees no extra, as on a machine where only `pip install .` ran."""
    site = tmp_path_factory.mktemp("base-site")
    allowed = base_distributions()
    for dist in importlib.metadata.distributions():
        if _normal(dist.metadata["Name"]) not in allowed:
            continue
        for file in dist.files or []:
            top = Path(file.parts[0])
            source = Path(dist.locate_file(top))
            if ".." in file.parts or not source.exists() or (site / top).exists():
                continue
            (site / top).symlink_to(source)
    return site


CHECK = textwrap.dedent('''
    import importlib, pkgutil
    from typer.testing import CliRunner

    modules = []
    for package in ("pettrack", "pettrack.model", "pettrack.tracker", "pettrack.pipelines"):
        imported = importlib.import_module(package)
        modules += [f"{package}.{m.name}" for m in pkgutil.iter_modules(imported.__path__)]
    for name in modules:
        importlib.import_module(name)
    print(f"imported {len(modules)} modules")

    from pettrack.pipelines.cli import app
    runner = CliRunner()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands]
    for command in [None, *commands]:
        result = runner.invoke(app, ([command] if command else []) + ["--help"])
        assert result.exit_code == 0, (command, result.output, result.exception)
    print(f"--help of {len(commands)} commands")
''')


def _run_base(code: str, site: Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `code` in a Python that sees only the base install (and the standard library)."""
    prelude = f"import site, sys\nsite.addsitedir({str(site)!r})\n"
    check = "assert all(name not in sys.modules for name in ('pytest', 'openvino'))\n"
    script = cwd / "base_only.py"
    script.write_text(prelude + check + code)
    return subprocess.run([sys.executable, "-S", str(script)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_the_base_site_lacks_the_extras(base_site, tmp_path):
    result = _run_base("import importlib.util as u\n"
                       "print([m for m in ('openvino', 'ray', 'sleap_io', 'pytest', 'torch', 'cv2') if u.find_spec(m)])",
                       base_site, tmp_path)
    assert result.stdout.strip() == "['torch', 'cv2']", result.stdout + result.stderr


def test_every_module_and_help_without_the_extras(base_site, tmp_path):
    result = _run_base(CHECK, base_site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--help of" in result.stdout


def test_the_main_job_runs_without_the_extras(base_site, tmp_path):
    """The README's main job (video with its plot and run record) in the base install."""
    shutil.copy(ROOT / "samples" / "dog_4s.mp4", tmp_path / "clip.mp4")
    code = textwrap.dedent('''
        import sys
        from pettrack.pipelines.entry import main
        sys.argv = ["pettrack", "video", "clip.mp4", "--end", "1.5"]
        main()
    ''')
    result = _run_base(code, base_site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for suffix in (".csv", ".mp4", ".png", ".json"):
        assert (tmp_path / f"clip.pettrack{suffix}").is_file(), suffix


def test_declared_dependencies_match_the_imports():
    """deptry (a test dependency): no import without its declaration, none only transitive."""
    result = subprocess.run([sys.executable, "-m", "deptry", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
