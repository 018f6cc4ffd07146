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


def installed_closure(extras: tuple[str, ...] = ()) -> set[str]:
    """The distributions `pip install "pettrack[EXTRAS]"` brings: the requirements, transitively,
    with each requirement's own extras, markers evaluated for this interpreter."""
    seen: set[tuple[str, str]] = set()
    todo = [("pettrack", extra) for extra in ("", *extras)]
    while todo:
        name, extra = todo.pop()
        name = _normal(name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, wanted) for wanted in ("", *requirement.extras)]
    return {name for name, _ in seen}


def make_site(folder: Path, extras: tuple[str, ...] = ()) -> Path:
    """A site folder holding only what `pip install "pettrack[EXTRAS]"` installs: links to the
    installed files of those distributions (pettrack's editable finder included). A subprocess
    started with -S and this folder as its only site sees nothing else, as on a machine where only
    that install ran."""
    allowed = installed_closure(extras)
    for dist in importlib.metadata.distributions():
        if _normal(dist.metadata["Name"]) not in allowed:
            continue
        for file in dist.files or []:
            top = Path(file.parts[0])
            source = Path(dist.locate_file(top))
            if ".." in file.parts or not source.exists() or (folder / top).exists():
                continue
            (folder / top).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def base_site(tmp_path_factory) -> Path:
    return make_site(tmp_path_factory.mktemp("base-site"))


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
    """Run `code` in a Python that sees only `site` (see make_site) and the standard library."""
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


@pytest.mark.parametrize("extra, args, outputs", [
    ("openvino", ["video", "clip.mp4", "--end", "0.5", "--backend", "openvino", "--no-plots"], [".csv", ".mp4"]),
    ("export", ["video", "clip.mp4", "--end", "0.5", "--export", "slp,nwb,dlc"], [".slp", ".nwb", ".dlc.csv", ".png"]),
])
def test_each_extra_runs_its_feature_with_only_what_it_installs(extra, args, outputs, tmp_path_factory):
    """pip install "pettrack[EXTRA]" and nothing else runs that extra's feature: what its code
    imports is declared in that extra (or the base), not brought in by another extra."""
    site = make_site(tmp_path_factory.mktemp(f"{extra}-site"), (extra,))
    work = tmp_path_factory.mktemp(f"{extra}-run")
    shutil.copy(ROOT / "samples" / "dog_4s.mp4", work / "clip.mp4")
    code = f"import sys\nfrom pettrack.pipelines.entry import main\nsys.argv = ['pettrack', *{args!r}]\nmain()\n"
    result = _run_base(code, site, work)
    assert result.returncode == 0, result.stderr[-3000:]
    for suffix in outputs:
        assert (work / f"clip.pettrack{suffix}").is_file(), (suffix, result.stderr[-2000:])


def test_declared_dependencies_match_the_imports():
    """deptry (a test dependency): no import without its declaration, none only transitive."""
    result = subprocess.run([sys.executable, "-m", "deptry", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_folder_is_installed():
    """Each folder of code is in pyproject's package list: an editable install finds a folder that
    is missing from it, a real one (`pip install .`, the README's first command) does not."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    installed = set(config["packages"])
    roots = {folder: package for package, folder in config["package-dir"].items()}
    for folder, package in roots.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *relative))
            assert name in installed, f"{init.parent.relative_to(ROOT)} ({name}) is not in [tool.setuptools] packages"
