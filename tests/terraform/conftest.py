"""Terraform checks run offline: a schema-only provider stand-in, real terraform, checkov.

The tools live in ``.venv-tf`` (``make terraform-tools``). Without them these tests are skipped
locally and fail under CI, where ``make test`` always installs them first.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import missing_prerequisite

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
TF_VENV = REPO / ".venv-tf"
TF_PYTHON = TF_VENV / "bin" / "python"
SCHEMAS = TF_VENV / "schemas"
STANDIN = TERRAFORM_DIR / "testing" / "standin.py"
PROVIDERS = {
    "registry.terraform.io/hashicorp/google": SCHEMAS / "google.json",
    "registry.terraform.io/hashicorp/archive": SCHEMAS / "archive.json",
}
STARTUP_TIMEOUT_S = 60.0
# Where the registry is reachable, BRIDGE_TF_REAL_PROVIDERS=1 runs the same checks against the
# real providers (terraform init downloads them) instead of the stand-in.
REAL_PROVIDERS = os.environ.get("BRIDGE_TF_REAL_PROVIDERS") == "1"


def _missing_tools() -> str | None:
    if shutil.which("terraform") is None:
        return "terraform is not on PATH"
    needed = [TF_PYTHON] if REAL_PROVIDERS else [TF_PYTHON, *PROVIDERS.values()]
    for path in needed:
        if not path.exists():
            return f"{path.relative_to(REPO)} is missing: run `make terraform-tools`"
    return None


def require_tools() -> None:
    reason = _missing_tools()
    if reason is not None:
        missing_prerequisite(reason)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class Terraform:
    """Runs terraform against the stand-in (TF_REATTACH_PROVIDERS), never the registry."""

    env: Mapping[str, str]

    def run(self, args: Sequence[str], cwd: Path, timeout_s: float = 240) -> Result:
        done = subprocess.run(
            ["terraform", *args],
            cwd=cwd,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def init(self, cwd: Path) -> None:
        result = self.run(["init", "-input=false", "-no-color", "-backend=false"], cwd)
        assert result.returncode == 0, result.output

    def validate(self, cwd: Path) -> Result:
        self.init(cwd)
        return self.run(["validate", "-no-color"], cwd)


def _read_line(stream: Any, deadline: float) -> str:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            return str(stream.readline())
    raise TimeoutError("the provider stand-in printed no reattach line in time")


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the provider schemas on Unix sockets; yield TF_REATTACH_PROVIDERS; stop by PID."""
    require_tools()
    if REAL_PROVIDERS:
        yield ""
        return
    socket_dir = tmp_path_factory.mktemp("standin")
    log = (socket_dir / "standin.log").open("w")
    process = subprocess.Popen(
        [str(TF_PYTHON), str(STANDIN), str(socket_dir)]
        + [f"{address}={schema}" for address, schema in PROVIDERS.items()],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = _read_line(process.stdout, time.monotonic() + STARTUP_TIMEOUT_S)
        reattach = json.loads(line)
        assert set(reattach) == set(PROVIDERS), line
        assert all(r["Addr"]["Network"] == "unix" for r in reattach.values())
        yield line.strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def terraform(standin: str, tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    home = tmp_path_factory.mktemp("tf-home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": str(home / "terraformrc"),
    }
    if standin:
        env["TF_REATTACH_PROVIDERS"] = standin
    (home / "terraformrc").write_text("")
    return Terraform(env=env)


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in {".terraform", ".build", "__pycache__"}}


@pytest.fixture(scope="session")
def module_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/ (so init and test leave nothing in the work tree), beside a copy of
    the rest of the repository: the function's source archive is read from ``..``."""
    root = tmp_path_factory.mktemp("module")
    target = root / "terraform"
    shutil.copytree(TERRAFORM_DIR, target, ignore=_ignore)
    for relative in _repository_files():
        if relative.split("/")[0] != "terraform":
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, root / relative)
    return target


def _repository_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files, as a clean clone (plus work in progress)."""
    done = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:  # not a git work tree: at least what the function needs
        return [
            "main.py",
            "requirements.txt",
            *(f"bridge/{p.name}" for p in REPO.glob("bridge/*.py")),
        ]
    return [path for path in done.stdout.splitlines() if (REPO / path).is_file()]


@pytest.fixture(scope="session")
def initialised_module(terraform: Terraform, module_copy: Path) -> Path:
    terraform.init(module_copy)
    return module_copy


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


EXAMPLE_TFVARS = TERRAFORM_DIR / "examples" / "four-services" / "terraform.tfvars.example"


def apply_contract(terraform: Terraform, module: Path, tfvars: Path) -> dict[str, Any]:
    """The state of ``tests/contract/env.tftest.hcl`` applied (mocked) with a tfvars file."""
    result = terraform.run(
        [
            "test",
            "-no-color",
            "-json",
            "-verbose",
            "-test-directory=tests/contract",
            f"-var-file={tfvars}",
        ],
        module,
    )
    assert result.returncode == 0, result.output[-5000:]
    messages = json_lines(result.stdout)
    states = [m["test_state"] for m in messages if m.get("type") == "test_state"]
    assert len(states) == 1, result.output[-5000:]
    state: dict[str, Any] = states[0]
    return state


@pytest.fixture(scope="session")
def contract_state(
    terraform: Terraform, initialised_module: Path
) -> Callable[[Path], dict[str, Any]]:
    """``apply_contract``, once per tfvars file in a session."""
    cache: dict[Path, dict[str, Any]] = {}

    def apply(tfvars: Path) -> dict[str, Any]:
        if tfvars not in cache:
            cache[tfvars] = apply_contract(terraform, initialised_module, tfvars)
        return cache[tfvars]

    return apply


def resources(state: dict[str, Any], address: str | None = None) -> list[dict[str, Any]]:
    """Managed resources of a state; only the instances of ``address`` when given (one instance
    when it has an index, ``bridge["enqueue"]``)."""
    found: list[dict[str, Any]] = [
        r for r in state["root_module"]["resources"] if r["mode"] == "managed"
    ]
    if address is None:
        return found
    return [r for r in found if address in (r["address"], r["address"].split("[")[0])]
