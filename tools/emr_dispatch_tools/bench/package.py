"""Package size after `sam build` (`make build`, which `make bench` runs first when the SAM CLI is installed):
each function's code and the layer, unzipped and zipped, the layer by distribution, and anything in it that the
Lambda runtime already provides. The baseline is what the runtime provides and we do not ship: boto3 + botocore
(+ s3transfer).

Without a `sam build` output (a fresh clone that has not installed the SAM CLI, a few minutes), the layer is
installed the way sam's pip builder installs it: `pip install --target` for the Lambda platform (manylinux2014
aarch64, CPython 3.13, wheels only) plus our package, and the functions are their code folders (sam copies them).
The report says which source it measured."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from emr_dispatch_tools import moto_stack

BUILD = moto_stack.ROOT / ".aws-sam" / "build"
FUNCTIONS = ("LauncherFunction", "TrackerFunction", "SweeperFunction")
LAYER = "EmrDispatchLayer"

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
"""Distributions the Lambda Python runtime ships (boto3 and its dependencies): never worth bundling."""

REASONS = {
    "emr_dispatch": "our package: domain, engines, ledger, alerts (the layer's reason to exist)",
    "aws_lambda_powertools": "Logger (structured JSON logs with the Lambda context, correlation); LambdaContext type",
    "pydantic": "routes.yaml schema: validation at load with errors naming the route and field",
    "pydantic_core": "pydantic's compiled validator core (required by pydantic)",
    "annotated_types": "required by pydantic",
    "typing_inspection": "required by pydantic",
    "typing_extensions": "required by pydantic and Powertools",
    "yaml": "PyYAML: reads routes.yaml (its libyaml loader parses it about ten times faster)",
    "_yaml": "PyYAML's libyaml binding",
    "requirements.txt": "the layer's pin list, copied by sam build",
    "jmespath": "required by Powertools; also in the runtime (boto3's dependency): a duplicate, see the note",
    "botocore": "the runtime has it: must not be bundled (it would shadow the runtime's), see the note",
    "six": "required by python-dateutil: a duplicate, see the note",
}


@dataclass
class PackageSizes:
    functions: dict[str, tuple[int, int]] = field(default_factory=dict)  # name → (unzipped, zipped) bytes
    layer: tuple[int, int] = (0, 0)
    layer_parts: dict[str, int] = field(default_factory=dict)  # distribution → unzipped bytes
    runtime_provided_bundled: list[str] = field(default_factory=list)
    sdk_bytes: int = 0  # boto3 + botocore + s3transfer as installed here (what the runtime gives us)
    source: str = ""
    missing: str = ""


SAM_BUILD_SOURCE = "`sam build` output (.aws-sam/build)"
PIP_SOURCE = (
    "no `sam build` output: the layer as sam's pip builder installs it (`pip install --target --platform "
    "manylinux2014_aarch64 --python-version 3.13 --only-binary=:all:` + `emr_dispatch`), functions as their folders"
)


def measure(build: Path | None = BUILD) -> PackageSizes:
    """Sizes from ``build`` (a `sam build` output), or, when it is None or has no layer, from a pip install."""
    if build is not None and (build / LAYER).is_dir():
        return _measure({name: build / name for name in FUNCTIONS}, build / LAYER, SAM_BUILD_SOURCE)
    with tempfile.TemporaryDirectory(prefix="emr-dispatch-layer-") as directory:
        layer = Path(directory)
        done = subprocess.run(  # noqa: S603 - our own interpreter's pip, fixed arguments
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
             str(layer / "python"), "--platform", "manylinux2014_aarch64", "--implementation", "cp",
             "--python-version", "3.13", "--only-binary=:all:", "-r",
             str(moto_stack.ROOT / "layers/emr_dispatch/requirements.txt")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return PackageSizes(
                missing=f"no sam build output and pip could not install the layer: {done.stderr[-500:]}"
            )
        shutil.rmtree(layer / "python" / "bin", ignore_errors=True)  # console scripts: sam's builder keeps none
        shutil.copytree(moto_stack.ROOT / "layers/emr_dispatch/emr_dispatch", layer / "python" / "emr_dispatch")
        folders = {"LauncherFunction": "launcher", "TrackerFunction": "tracker", "SweeperFunction": "sweeper"}
        functions = {name: moto_stack.ROOT / "functions" / folder for name, folder in folders.items()}
        return _measure(functions, layer, PIP_SOURCE)


def _measure(functions: dict[str, Path], layer: Path, source: str) -> PackageSizes:
    sizes = PackageSizes(source=source)
    for name, folder in functions.items():
        sizes.functions[name] = _sizes(folder)
    sizes.layer = _sizes(layer)
    parts: defaultdict[str, int] = defaultdict(int)
    for path in (layer / "python").iterdir():
        if path.name == "__pycache__":
            continue
        parts[_distribution(path.name)] += _unzipped(path)
    sizes.layer_parts = dict(sorted(parts.items(), key=lambda item: -item[1]))
    sizes.runtime_provided_bundled = [name for name in sizes.layer_parts if name in RUNTIME_PROVIDED]
    sizes.sdk_bytes = sum(_unzipped(_installed(name)) for name in ("boto3", "botocore", "s3transfer"))
    return sizes


def _distribution(name: str) -> str:
    """Top-level entry → distribution: `pydantic-2.13.5.dist-info` → pydantic, `typing_extensions.py` → ..."""
    stem = name.split("-", 1)[0] if name.endswith((".dist-info", ".data")) else name.removesuffix(".py")
    return {"pyyaml": "yaml", "PyYAML": "yaml"}.get(stem, stem.lower())


def _installed(package: str) -> Path:
    module = __import__(package)
    return Path(module.__file__ or "").parent


def _unzipped(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _sizes(directory: Path) -> tuple[int, int]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return _unzipped(directory), len(buffer.getvalue())
