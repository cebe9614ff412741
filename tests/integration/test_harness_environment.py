"""The stack fixtures read each function's environment once per test (conftest.environments_read_once)."""

from __future__ import annotations

from faults import recording_calls

from emr_dispatch_tools.moto_stack import DeployedStack


def test_a_functions_environment_is_read_once_per_test_and_each_caller_gets_its_own_copy(stack: DeployedStack) -> None:
    # Given the deployed stack / When the launcher's environment is asked for twice, the first answer changed
    with recording_calls() as calls:
        first = stack.function_environment("LauncherFunction")
        name = next(iter(first))
        first[name] = "changed by the caller"
        again = stack.function_environment("LauncherFunction")
        stack.function_environment("SweeperFunction")

    # Then the stack was asked once per function, and the caller's change stayed its own
    assert calls.count(("lambda", "GetFunctionConfiguration")) == 2
    assert again[name] != "changed by the caller"
