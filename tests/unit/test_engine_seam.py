"""The engine seam: an engine is its package under engines/ plus template.yaml, and nothing else names it.

Adding or changing an engine must not mean editing code elsewhere: outside engines/ the package, the handlers and
the tools reach engines through the registry (emr_dispatch.engines), which is built from each engine's
DECLARATION. template.yaml stays the single source of truth for the names AWS sees: its EventBridge rules are
compared with the declarations here, never generated from them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from emr_dispatch.engines import DECLARATIONS, ENGINE_NAMES, EVENT_SOURCES, declaration
from emr_dispatch.routes import DEFAULT_START_RATES, Route
from emr_dispatch_tools.moto_stack import load_sam_template, rule_patterns

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers/emr_dispatch/emr_dispatch"
SCANNED = [PACKAGE, ROOT / "functions", ROOT / "tools/emr_dispatch_tools"]

ALLOWED = {
    PACKAGE / "engines": "the engines themselves",
    ROOT / "tools/emr_dispatch_tools/simulator.py": "plays each engine's AWS side offline (what moto does not)",
    ROOT / "tools/emr_dispatch_tools/moto_stack.py": "creates, in moto, the engine resources the template names",
    ROOT / "tools/emr_dispatch_tools/offline": "stands in for AWS (IAM, API quotas, the SAR) for every service",
    ROOT / "tools/emr_dispatch_tools/bench": "measures named scenarios on named engines (docs/BENCHMARKS.md)",
    ROOT / "tools/emr_dispatch_tools/e2e": "drives one engine (EMR Serverless) in a real account",
    ROOT / "tools/emr_dispatch_tools/cli/doctor.py": "probes the account's engine resources the template names",
}
"""Where naming an engine is the point (tests, docs, events/ and template.yaml are not scanned)."""


def _camel(section: str) -> str:
    return "".join(part.capitalize() for part in section.split("_"))


def _forbidden_text() -> re.Pattern[str]:
    """Engine names and sections, event sources and detail-types, service names, stack variables, as whole tokens;
    and the CamelCase stems of engine names anywhere (EmrServerlessApplicationId, EmrEc2Simulator)."""
    tokens = {
        token
        for declared in DECLARATIONS
        for token in (
            declared.name,
            declared.section,
            declared.event_source,
            *declared.detail_types,
            *declared.services,
            *(setting.variable for setting in declared.stack_settings),
        )
    }
    whole = "|".join(re.escape(token) for token in sorted(tokens, key=len, reverse=True))
    stems = "|".join(_camel(declared.section) for declared in DECLARATIONS)
    return re.compile(rf"(?<![\w.-])(?:{whole})(?![\w-])|{stems}")


def _forbidden_identifier() -> re.Pattern[str]:
    """An identifier that carries an engine's name: emr_serverless_application_id, EmrEksEngine, emr_ec2."""
    stems = "|".join(declared.section.replace("_", "") for declared in DECLARATIONS)
    return re.compile(rf"(?:{stems})")


def _docstrings(tree: ast.AST) -> set[int]:
    """Strings that are statements of their own: docstrings, of modules, classes, functions and attributes."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _names_of_engines(path: Path) -> list[str]:
    """Every place the code (not its prose: comments and docstrings) names a particular engine."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    text, identifier = _forbidden_text(), _forbidden_identifier()
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if text.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
            continue
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names = [node.name]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(alias.name for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.arg | ast.keyword):
            names = [node.arg] if node.arg else []
        for name in names:
            if identifier.search(name.lower().replace("_", "")):
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {name}")
    return found


def _scanned_files() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted(top.rglob("*.py")):
            if not any(path == allowed or allowed in path.parents for allowed in ALLOWED):
                files.append(path)
    return files


def test_no_code_outside_engines_names_a_particular_engine() -> None:
    # Given the package (engines/ aside), the handlers and the tools, less what plays or probes AWS's side
    files = _scanned_files()
    assert len(files) > 40  # the scan found the tree
    # When every string and identifier of their code is searched for what names an engine
    found = [place for path in files for place in _names_of_engines(path)]
    # Then none does: they reach engines through the registry, by a job's or a route's engine name
    assert found == []


def test_the_scan_sees_what_it_forbids() -> None:
    # Given code that branches on an engine, reads its stack setting and imports one engine's module
    sample = (
        "from emr_dispatch.engines.emr_eks import EmrEksEngine\n"
        "if job.engine == 'emr-serverless':\n"
        "    print(settings.emr_serverless_application_id, 'EMR Cluster State Change')\n"
    )
    tree_file = Path(__file__).with_name("_seam_sample.py")
    tree_file.write_text(sample, encoding="utf-8")
    try:
        # When it is scanned
        found = _names_of_engines(tree_file)
    finally:
        tree_file.unlink()
    # Then each of them is reported
    joined = "\n".join(found)
    for needle in ("emr_eks", "EmrEksEngine", "'emr-serverless'", "emr_serverless_application_id", "EMR Cluster"):
        assert needle in joined


def _tracker_rules() -> list[dict[str, list[str]]]:
    return [pattern for name, pattern in rule_patterns().items() if name.startswith("TrackerFunction.")]


def test_the_templates_tracker_rules_match_exactly_what_the_engines_declare() -> None:
    # Given the tracker's EventBridge rules in template.yaml (the source of truth) and the engines' declarations
    rules = _tracker_rules()
    # When each engine's source and detail-types are read from the rules
    by_source: dict[str, set[str]] = {}
    for pattern in rules:
        (source,) = pattern["source"]
        by_source.setdefault(source, set()).update(pattern["detail-type"])
    # Then the rules listen to every engine's source and no other, for exactly the detail-types it parses
    assert set(by_source) == set(EVENT_SOURCES)
    for declared in DECLARATIONS:
        assert by_source[declared.event_source] == set(declared.detail_types), declared.name


def test_every_stack_setting_an_engine_declares_is_set_by_the_template() -> None:
    # Given the environment template.yaml gives every function
    variables = load_sam_template()["Globals"]["Function"]["Environment"]["Variables"]
    # Then each engine's declared stack settings are among them
    for declared in DECLARATIONS:
        for setting in declared.stack_settings:
            assert setting.variable in variables, (declared.name, setting.variable)


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_a_declaration_is_complete_and_found_by_name(name: str) -> None:
    # Given an engine's declaration from the registry
    declared = declaration(name)
    # Then its route section holds its own settings model, its logs lie under its own prefix, and the start
    # rate the routes file defaults to is the one it declares
    assert Route.model_fields[declared.section].annotation == declared.settings_model() | None
    assert declared.log_uri("work") == f"s3://work/{declared.log_prefix}"
    assert sum(other.log_prefix == declared.log_prefix for other in DECLARATIONS) == 1
    rate = DEFAULT_START_RATES.get(name)
    if declared.start_per_second is None:
        assert rate is None
    else:
        assert rate is not None
        assert (rate.per_second, rate.burst) == (declared.start_per_second, declared.start_burst)


def test_an_unknown_engine_is_named_with_the_known_ones() -> None:
    # When the registry is asked for an engine it does not know / Then the error lists the ones it does
    with pytest.raises(KeyError, match="known: " + ", ".join(ENGINE_NAMES)):
        declaration("emr-on-mars")
