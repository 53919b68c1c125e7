"""The distribution installs as ``promoloop.*`` both editable and as a built wheel."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP = {
    "actors": "promoloop.actors",
    "connectors": "promoloop.connectors",
    "scenarios": "promoloop.scenarios",
}


def _declared_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def test_every_package_directory_is_declared() -> None:
    found = set()
    for top, dotted in TOP.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([dotted, *rel.parts]))
    assert found == _declared_packages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("promoloop-*.whl")
    return built


def test_wheel_holds_only_the_namespaced_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"promoloop"}
    assert "promoloop/actors/runtime/world.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "promoloop = promoloop.scenarios.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_non_editable_install_imports_and_runs(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel into a fresh venv that borrows only the third-party dependencies."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # Dependencies from this environment, but not its .pth files (so not the editable finder).
    (site / "borrowed_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = "\n".join(
        [
            "import importlib.util as u",
            "import promoloop.actors.runtime, promoloop.connectors.segment",
            "import promoloop.scenarios.cli as cli",
            "print(promoloop.actors.runtime.__file__)",
            "print(all(u.find_spec(n) is None for n in ('actors', 'connectors', 'scenarios')))",
            "raise SystemExit(cli.main(['scenarios']))",
        ]
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(str(site))
    assert lines[1] == "True"
    assert any(line.startswith("review-giftcard") for line in lines[2:])
