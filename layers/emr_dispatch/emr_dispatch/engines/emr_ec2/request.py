"""The RunJobFlow request of one attempt (pure: `routes explain` renders it, tests read it without AWS), and what
a retry after lost Spot capacity changes in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emr_dispatch import NAME_PREFIX
from emr_dispatch.engines.base import (
    INVALID_REQUEST,
    placeholder_values,
    render_data,
    resource_name,
    spark_submit_parts,
    tags_for,
)
from emr_dispatch.engines.declaration import StackSetting, stack_setting
from emr_dispatch.errors import EngineError
from emr_dispatch.jobs import Job
from emr_dispatch.placeholders import render
from emr_dispatch.settings import Settings

if TYPE_CHECKING:
    from emr_dispatch.engines.emr_ec2.route_settings import Ec2Fleets, EmrConfiguration, EmrEc2Settings
    from emr_dispatch.route_steps import CommandStep, HiveStep, Step
    from emr_dispatch.routes import Route

NAME = "emr-ec2"
LOG_PREFIX = "emr-logs/"
NAME_MAX = 256  # emr RunJobFlow Name: XmlStringMaxLen256
SERVICE_ROLE = StackSetting("EMR_SERVICE_ROLE", "EMR_DefaultRole", "EMR_DefaultRole")
INSTANCE_PROFILE = StackSetting("EMR_INSTANCE_PROFILE", "EMR_EC2_DefaultRole", "EMR_EC2_DefaultRole")
SUBNET = StackSetting("EMR_SUBNET_ID")
STACK_SETTINGS = (SERVICE_ROLE, INSTANCE_PROFILE, SUBNET)

COMMAND_RUNNER = "command-runner.jar"
HADOOP_JAR_STEP_MAX = 10240
""""The string values passed into HadoopJarStep object cannot exceed a total of 10240 characters" (EMR API
Reference, AddJobFlowSteps)."""

ON_DEMAND = "ON_DEMAND"
"""launch_options["market"] of an EMR on EC2 attempt that must not use Spot."""


def log_uri(settings: Settings) -> str:
    return f"s3://{settings.work_bucket}/{LOG_PREFIX}"


def uses_spot(ec2: EmrEc2Settings) -> bool:
    """Whether the route asks for any Spot capacity (a retry can fall back to on-demand)."""
    if ec2.fleets is not None:
        fleets = [ec2.fleets.primary, ec2.fleets.core, ec2.fleets.task]
        return any(fleet is not None and fleet.spot_capacity > 0 for fleet in fleets)
    groups = ec2.instances
    return groups is not None and any(
        group is not None and group.market == "SPOT" for group in (groups.primary, groups.core, groups.task)
    )


def retry_launch_options(ec2: EmrEc2Settings, cause: str) -> dict[str, str]:
    """What the next attempt changes: after lost Spot capacity, the same capacity, all on-demand."""
    return {"market": ON_DEMAND} if cause == "spot" and uses_spot(ec2) else {}


def describe_launch_options(options: Mapping[str, str]) -> str:
    return " on on-demand instances (Spot capacity was lost)" if options.get("market") else ""


def cluster_name(job: Job) -> str:
    return resource_name(job, NAME_MAX)


def spark_step_args(job: Job, route: Route, work_bucket: str, step: Step | None = None) -> list[str]:
    """command-runner.jar arguments of a Spark step (default: the route's first): spark-submit, its parameters,
    the entry point, then the application's."""
    spark = (step or route.run_steps()[0]).spark
    if spark is None:
        raise EngineError(f"route {route.name}: step is not a Spark step", INVALID_REQUEST)
    parameters, entry_point, arguments = spark_submit_parts(job, route, work_bucket, spark)
    return ["spark-submit", "--deploy-mode", "cluster", *parameters, entry_point, *arguments]


def hive_step_args(job: Job, route: Route, work_bucket: str, hive: HiveStep) -> list[str]:
    """command-runner.jar arguments of a Hive step, as the AWS CLI's Hive step builds them on a release label
    (hive-script --run-hive-script --args, then Hive's own): ``-f`` script, ``-i`` init script, ``-d NAME=value``
    per variable, ``--hiveconf k=v``. A key-derived value only ever follows ``NAME=`` inside one word."""
    values = placeholder_values(job, route, work_bucket)
    args = ["hive-script", "--run-hive-script", "--args", "-f", render(hive.script, values)]
    if hive.init_script:
        args += ["-i", render(hive.init_script, values)]
    for name, value in hive.variables.items():
        args += ["-d", f"{name}={render(value, values)}"]
    for name, value in hive.hiveconf.items():
        args += ["--hiveconf", f"{name}={render(value, values)}"]
    return args


def command_step_args(job: Job, route: Route, work_bucket: str, command: CommandStep) -> list[str]:
    """command-runner.jar arguments of a command step: the program, then its (data) arguments."""
    values = placeholder_values(job, route, work_bucket)
    templates = [(f"command[{i}]", argument) for i, argument in enumerate(command.command) if i > 0]
    return [render(command.command[0], values), *render_data(job, route, templates, values)]


def step_name(step: Step) -> str:
    """EMR's name of a step: emr-dispatch's prefix (the tracker's rule routes step events by it), then the
    step's own (the single-job form's step is named after its route: ``emr-dispatch-<route>`` as ever)."""
    return f"{NAME_PREFIX}{step.name}"


def snapshot_step_names(job: Job) -> tuple[str, ...]:
    """The EMR names of the steps a job's attempt runs, from the route it was created under (its snapshot)."""
    if not job.route_snapshot:
        return ()
    from emr_dispatch.route_snapshots import (
        route_from_snapshot,  # the launcher and sweeper load routes; the tracker never
    )

    return tuple(step_name(step) for step in route_from_snapshot(job.route_snapshot).run_steps())


def step_configs(job: Job, route: Route, work_bucket: str) -> list[dict[str, Any]]:
    """RunJobFlow's Steps: one StepConfig per step of the route, in order, each run by command-runner.jar."""
    configs = []
    for step in route.run_steps():
        if step.hive is not None:
            args = hive_step_args(job, route, work_bucket, step.hive)
        elif step.command is not None:
            args = command_step_args(job, route, work_bucket, step.command)
        else:
            args = spark_step_args(job, route, work_bucket, step)
        total = sum(len(arg) for arg in args) + len(COMMAND_RUNNER)
        if total > HADOOP_JAR_STEP_MAX:
            raise EngineError(
                f"route {route.name}: step {step.name!r} renders {total} characters for job {job.job_id};"
                f" EMR allows {HADOOP_JAR_STEP_MAX} in a step's HadoopJarStep",
                INVALID_REQUEST,
            )
        configs.append(
            {
                "Name": step_name(step),
                "ActionOnFailure": step.action_on_failure.upper(),
                "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": args},
            }
        )
    return configs


def build_run_job_flow_request(job: Job, route: Route, settings: Settings) -> dict[str, Any]:
    """The RunJobFlow request for one attempt of a job: pure, so it is tested without AWS."""
    ec2: EmrEc2Settings = route.engine_settings()  # type: ignore[assignment]  # validated by Route
    # An attempt retried after Spot capacity was lost asks for the same capacity, all on-demand.
    on_demand_only = job.launch_options.get("market") == ON_DEMAND
    instances: dict[str, Any] = {"KeepJobFlowAliveWhenNoSteps": False, "TerminationProtected": False}
    if ec2.fleets is not None:
        instances["InstanceFleets"] = _instance_fleets(ec2.fleets, on_demand_only)
        if stack_setting(settings, SUBNET):
            instances["Ec2SubnetIds"] = [stack_setting(settings, SUBNET)]
    else:
        groups = ec2.instances
        if groups is None:  # unreachable for a validated route: it has instances or fleets
            raise EngineError(f"route {route.name} has neither instances nor fleets", "ROUTE_INVALID")
        instances["InstanceGroups"] = [
            _instance_group(role, group, on_demand_only)
            for role, group in (("MASTER", groups.primary), ("CORE", groups.core), ("TASK", groups.task))
            if group is not None
        ]
        if stack_setting(settings, SUBNET):
            instances["Ec2SubnetId"] = stack_setting(settings, SUBNET)
    tags = tags_for(job, route)
    static_values = placeholder_values(job, route, settings.work_bucket)
    request: dict[str, Any] = {
        "Name": cluster_name(job),
        "LogUri": log_uri(settings),
        "ReleaseLabel": ec2.release_label,
        "Applications": [{"Name": name} for name in ec2.applications],
        "Instances": instances,
        "Steps": step_configs(job, route, settings.work_bucket),
        "ServiceRole": stack_setting(settings, SERVICE_ROLE),
        "JobFlowRole": stack_setting(settings, INSTANCE_PROFILE),
        "VisibleToAllUsers": True,
        "AutoTerminationPolicy": {"IdleTimeout": ec2.idle_timeout_seconds},
        "StepConcurrencyLevel": ec2.step_concurrency,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }
    if ec2.ebs_root_volume_size_gb is not None:
        request["EbsRootVolumeSize"] = ec2.ebs_root_volume_size_gb
    if ec2.security_configuration:
        request["SecurityConfiguration"] = ec2.security_configuration
    if ec2.bootstrap_actions:
        request["BootstrapActions"] = [
            {
                "Name": action.name,
                "ScriptBootstrapAction": {
                    "Path": render(action.path, static_values),
                    "Args": [render(arg, static_values) for arg in action.args],
                },
            }
            for action in ec2.bootstrap_actions
        ]
    if ec2.configurations:
        request["Configurations"] = [_configuration(item) for item in ec2.configurations]
    return request


def _configuration(item: EmrConfiguration) -> dict[str, Any]:
    shaped: dict[str, Any] = {"Classification": item.classification, "Properties": dict(item.properties)}
    if item.configurations:
        shaped["Configurations"] = [_configuration(child) for child in item.configurations]
    return shaped


def _instance_fleets(fleets: Ec2Fleets, on_demand_only: bool = False) -> list[dict[str, Any]]:
    spot = fleets.spot
    shaped = []
    for role, fleet in (("MASTER", fleets.primary), ("CORE", fleets.core), ("TASK", fleets.task)):
        if fleet is None:
            continue
        on_demand, spot_capacity = fleet.on_demand_capacity, fleet.spot_capacity
        if on_demand_only:
            on_demand, spot_capacity = on_demand + spot_capacity, 0
        entry: dict[str, Any] = {
            "Name": role.lower(),
            "InstanceFleetType": role,
            "TargetOnDemandCapacity": on_demand,
            "TargetSpotCapacity": spot_capacity,
            "InstanceTypeConfigs": [{"InstanceType": instance_type} for instance_type in fleet.instance_types],
        }
        if spot_capacity:
            # Spot that cannot be had in time falls back to on-demand instead of failing the job.
            entry["LaunchSpecifications"] = {
                "SpotSpecification": {
                    "TimeoutDurationMinutes": spot.timeout_minutes,
                    "TimeoutAction": spot.timeout_action,
                    "AllocationStrategy": spot.allocation_strategy,
                }
            }
        if on_demand:
            entry.setdefault("LaunchSpecifications", {})["OnDemandSpecification"] = {
                "AllocationStrategy": "lowest-price"
            }
        shaped.append(entry)
    return shaped


def _instance_group(role: str, group: Any, on_demand_only: bool = False) -> dict[str, Any]:
    return {
        "Name": role.lower(),
        "InstanceRole": role,
        "Market": ON_DEMAND if on_demand_only else group.market,
        "InstanceType": group.instance_type,
        "InstanceCount": group.count,
    }
