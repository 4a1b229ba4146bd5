"""One environment's rollout: its stacks, in order, fed by name.

One environment is one root stack, `<project>-<environment>`, nesting a stack
per layer, plus a stack per companion template (`<project>-<environment>-
<companion>`, in the region the companion names in Metadata.Strata.Region).
Stacks feed each other by name, like layers do: a stack's parameter takes
the output of the same name of another of the environment's stacks (the
root gives the certificate companion its HostedZoneId, the companion gives
the root its CloudFrontCertificateArn). A deploy goes round the stacks until
a round changes nothing, then applies the safety settings of the parameter
file's `deploy` section (`generator.deploy.protection`).

Parameters are never reset behind the user's back: a stack's parameter gets
the template location, a `--parameter NAME=VALUE`, another stack's output,
or else (on a deployed stack) its previous value when that differs from the
default, so an image tag set by a pipeline survives a deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from generator.cfn.resources import deploy_region
from generator.deploy import protection, review
from generator.deploy.changes import Plan
from generator.deploy.dependencies import by_stack, data_dependencies
from generator.deploy.errors import Declined, DeployError, Interrupted, aws_errors, error_message
from generator.deploy.package import ROOT_FILE, BuiltEnv, Packaged, layout, read_build, stack_templates
from generator.deploy.references import Stacks
from generator.deploy.session import Aws
from generator.deploy.stacks import Deployer, StackReport

if TYPE_CHECKING:
    from generator.build.config import EnvConfig


@dataclass(frozen=True)
class Unit:
    """One stack of the environment: a companion, or the root."""

    label: str
    stack_name: str
    region: str
    file: str


def stack_name(env: EnvConfig) -> str:
    return f"{env.project}-{env.environment}"


def companion_region(file: str, body: dict) -> str:
    """The region a companion template names in `Metadata.Strata.Region`."""
    region = deploy_region(body, "")
    if not region:
        raise DeployError(f"companion template {file} does not say where it deploys: it needs "
                          "Metadata.Strata.Region (e.g. us-east-1 for a CloudFront certificate)")
    return region


def units(env: EnvConfig, build: BuiltEnv) -> list[Unit]:
    """Companions first (the root reads their outputs), then the root."""
    found = []
    for file in layout(build, "").companions:
        region = companion_region(file, build.body(file))
        stem = file.removesuffix(".json")
        found.append(Unit(f"{stem} ({region})", f"{stack_name(env)}-{stem}", region, file))
    return [*found, Unit("root", stack_name(env), env.region, ROOT_FILE)]



@dataclass
class Environment:
    """Plan, deploy, destroy and report one environment's stacks."""

    env: EnvConfig
    aws: Aws
    echo: Callable[[str], None] = print
    overrides: dict[str, str] = field(default_factory=dict)  # --parameter NAME=VALUE
    emulated: bool = False     # the endpoint is moto: it cannot replace resources (see review.py)

    @property
    def name(self) -> str:
        return stack_name(self.env)

    def _inputs(self, unit: Unit, body: dict, packaged: Packaged, fed: dict[str, str],
                deployed: dict | None) -> tuple[dict[str, str], list[str], str]:
        """Values for a stack's parameters, by name: the template location;
        an explicit `--parameter`; the output of another of the environment's
        stacks; else, for a stack already deployed, its previous value (a
        parameter like an image tag may have been changed since, on purpose);
        else the template's default. Returns (values, names to keep as they
        are, why the stack cannot be planned yet)."""
        previous = {p["ParameterKey"]: p.get("ParameterValue") for p in (deployed or {}).get("Parameters", []) or []}
        values: dict[str, str] = {}
        keep, missing = [], []
        for name, definition in sorted(body.get("Parameters", {}).items()):
            if name == "TemplateBucket":
                values[name] = packaged.bucket
            elif name == "TemplatePrefix":
                values[name] = packaged.prefix
            elif name in self.overrides:
                values[name] = self.overrides[name]
            elif name in fed:
                values[name] = fed[name]
            elif name in previous and previous[name] != definition.get("Default"):
                keep.append(name)  # NoEcho values read back as ****, so they are kept too
            elif "Default" not in definition:
                missing.append(name)
        deferred = ""
        if missing:
            deferred = (f"needs {', '.join(missing)}, which none of the environment's deployed stacks outputs yet "
                        "(give it with --parameter NAME=VALUE, or deploy the stack that outputs it first)")
        return values, keep, deferred

    def _plan_unit(self, unit: Unit, packaged: Packaged, build: BuiltEnv, outputs: dict[str, dict[str, str]],
                   rollback: dict | None) -> Plan:
        with aws_errors(f"{unit.stack_name} ({unit.region}), planning"):
            return self._plan(unit, packaged, build, outputs, rollback)

    def _plan(self, unit: Unit, packaged: Packaged, build: BuiltEnv, outputs: dict[str, dict[str, str]],
              rollback: dict | None) -> Plan:
        body = packaged.layout.root if unit.file == ROOT_FILE else build.body(unit.file)
        deployer = self.aws.deployer(unit.region, self.echo)
        deployed = deployer.stack(unit.stack_name)
        fed = {k: v for name, produced in outputs.items() if name != unit.stack_name for k, v in produced.items()}
        values, keep, deferred = self._inputs(unit, body, packaged, fed, deployed)
        if deferred:
            return Plan(unit.label, unit.stack_name, unit.region, deferred=deferred)
        source: dict[str, str] = {"template_url": packaged.url(unit.file)}
        if unit.region != packaged.region:
            # the bucket is in the environment's region; send small companions inline
            text = build.templates[unit.file].decode()
            if len(text.encode()) > 51_200:
                raise DeployError(f"{unit.file} is too large to send inline to {unit.region}")
            source = {"template_body": text}
        no_echo = [k for k, d in body.get("Parameters", {}).items() if str(d.get("NoEcho", "")).lower() == "true"]
        plan = deployer.plan(
            unit.stack_name, label=unit.label, parameters=values, keep=keep, tags=self.env.all_tags,
            rollback=rollback if unit.file == ROOT_FILE else None, no_echo=no_echo, **source,
        )
        if plan.executable:
            templates = self._templates(unit, packaged, build)
            found = review.stack_diff(review.deployed(deployer, deployed), templates, values, keep, unit.region)
            review.review(plan, found, data_dependencies(Stacks(templates)), fill_in=self.emulated)
        return plan

    def _templates(self, unit: Unit, packaged: Packaged, build: BuiltEnv) -> dict[str, dict]:
        """The new templates of a unit's stacks by label (the packaged root and its layers)."""
        if unit.file == ROOT_FILE:
            return stack_templates(build, packaged.layout.root)
        return {"root": build.body(unit.file)}

    def _guarded(self, unit: Unit, packaged: Packaged, build: BuiltEnv) -> dict[str, tuple[str, ...]]:
        """Per stack label, the resources data stores depend on (the stack policy denies their replacement)."""
        return by_stack(data_dependencies(Stacks(self._templates(unit, packaged, build))))

    def check_overrides(self, build: BuiltEnv) -> None:
        """Every `--parameter NAME` names a parameter of one of the environment's stacks."""
        from generator.build.awsdata import closest

        known = sorted({name for unit in units(self.env, build)
                        for name in (build.body(unit.file).get("Parameters") or {})} - {"TemplateBucket", "TemplatePrefix"})
        for name in sorted(self.overrides):
            if name not in known:
                close = closest(name, known)
                raise DeployError(f"--parameter {name}: no stack of {self.name} has a parameter {name}; "
                                  f"known: {', '.join(close) or 'none'}")

    def _outputs(self, unit: Unit) -> dict[str, str]:
        with aws_errors(f"{unit.stack_name} ({unit.region}), reading outputs"):
            stack = self.aws.deployer(unit.region, self.echo).stack(unit.stack_name)
        return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", []) or []}

    def _rollback(self) -> dict | None:
        """The rollback triggers, for the alarms that exist: CloudFormation
        fails a deploy naming a missing one, and the health layer's composite
        alarm, say, does not exist before the environment's first deploy."""
        config = self.env.deploy
        if not config.rollback_alarms:
            return None
        present = protection.existing_alarms(self.aws.client("cloudwatch"), config.rollback_alarms)
        for name in config.rollback_alarms:
            if name not in present:
                self.echo(f"rollback trigger {name}: no such alarm in {self.env.region} yet (this deploy may create it); "
                          "not watched this time")
        return protection.rollback_configuration(config, self.aws.account_id(), self.env.region, present)

    def plan(self, packaged: Packaged, out_dir: Path, keep: bool = False) -> list[Plan]:
        """Plan every stack (companions, then the root) against what is
        deployed now, without executing; change sets are deleted unless `keep`."""
        build = read_build(out_dir)
        self.check_overrides(build)
        found = units(self.env, build)
        outputs = {unit.stack_name: self._outputs(unit) for unit in found}
        rollback = self._rollback()
        plans = []
        for unit in found:
            plan = self._plan_unit(unit, packaged, build, outputs, rollback)
            plans.append(plan)
            if plan.executable and not keep:
                self.aws.deployer(unit.region, self.echo).discard(plan)
        return plans

    def deploy(self, packaged: Packaged, out_dir: Path, *, approve: Callable[[Plan], bool],
               show: Callable[[Plan], None], allow_replacement: bool = False) -> list[Plan]:
        """Plan, show, approve and execute stack by stack, in rounds, until a
        round changes nothing: a stack's outputs can feed another's parameters
        either way (the root gives a companion its HostedZoneId, the companion
        gives the root its CloudFrontCertificateArn), so a first deploy may
        take the root, then the companion, then the root again. Then the
        safety settings. Raises DeployError (Refused, DeployFailed) on the
        first stack that cannot go on."""
        build = read_build(out_dir)
        self.check_overrides(build)
        found = units(self.env, build)
        outputs = {unit.stack_name: self._outputs(unit) for unit in found}
        rollback = self._rollback()
        plans: list[Plan] = []
        deferred: dict[str, Plan] = {}
        executed: list[str] = []
        for round_number in range(2 * len(found) + 1):
            changed = False
            for unit in found:
                plan = self._plan_unit(unit, packaged, build, outputs, rollback)
                if plan.deferred:
                    deferred[unit.stack_name] = plan
                else:
                    deferred.pop(unit.stack_name, None)
                if round_number == 0 or plan.executable:
                    plans.append(plan)
                    show(plan)
                if plan.executable:
                    try:
                        with aws_errors(f"{unit.stack_name} ({unit.region}), deploying"):
                            self._execute(unit, plan, approve, allow_replacement, self._guarded(unit, packaged, build))
                    except Declined as declined:
                        if not executed:
                            raise Declined(f"{str(declined).split(':')[0]}: nothing changed") from None
                        raise Declined(f"{declined} ({', '.join(executed)} already deployed)") from None
                    executed.append(unit.stack_name)
                    outputs[unit.stack_name] = self._outputs(unit)
                    changed = True
            if not changed:
                break
        else:
            raise DeployError(f"the stacks of {self.name} still changed after {2 * len(found) + 1} rounds: "
                              "their outputs and parameters feed each other in a loop")
        for plan in deferred.values():
            raise DeployError(f"{plan.stack_name} {plan.deferred}")
        for unit in found:
            self._protect(self.aws.deployer(unit.region, self.echo), unit, self._guarded(unit, packaged, build))
        return plans

    def _execute(self, unit: Unit, plan: Plan, approve: Callable[[Plan], bool], allow_replacement: bool,
                 guarded: dict[str, tuple[str, ...]]) -> None:
        deployer = self.aws.deployer(unit.region, self.echo)
        try:
            protection.refuse_data_loss(plan, allow_replacement)
            if self.emulated:
                review.refuse_unemulated_replacements(plan)
            if not approve(plan):
                raise Declined(f"not approved: {unit.stack_name} was not changed")
        except (DeployError, KeyboardInterrupt, EOFError) as stop:
            deployer.discard(plan)
            if isinstance(stop, DeployError):
                raise
            if isinstance(stop, EOFError):
                raise Declined(f"not approved (no answer): {unit.stack_name} was not changed") from None
            raise Interrupted(f"interrupted at the approval prompt: {unit.stack_name} was not changed "
                              "(its change set was deleted)") from None
        interrupted = False
        try:
            if allow_replacement:
                for note in protection.relax(deployer, plan, guarded):
                    self.echo(note)
            status = deployer.execute(plan, allow_replacement=allow_replacement)
            self.echo(f"{unit.stack_name}: {status}")
        except Interrupted as stop:
            interrupted = True
            message = str(stop).replace("`strata status`", f"`strata status --env {self.env.environment}`")
            if allow_replacement and self.env.deploy.protect_stateful:
                message += ("\nthe stack policy stays relaxed for the reviewed replacements until you run "
                            f"`strata deploy --env {self.env.environment}` again once the update has ended")
            raise Interrupted(message) from None
        finally:
            # also puts back a policy relaxed for this deploy, even after a
            # failure; not while CloudFormation is still updating the stack
            if not interrupted:
                self._protect(deployer, unit, guarded)

    def _protect(self, deployer: Deployer, unit: Unit, guarded: dict[str, tuple[str, ...]] | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            notes = protection.protect(deployer, unit.stack_name, self.env.deploy, guarded)
        except (ClientError, BotoCoreError) as exc:
            notes = [f"warning: could not apply the deploy safety settings: {error_message(exc)}"]
        for note in notes:
            self.echo(f"{unit.stack_name}: {note}")

    def known_units(self, out_dir: Path | None) -> list[Unit]:
        """The root and, when the build is at hand, its companions."""
        if out_dir is None or not (Path(out_dir) / "manifest.json").is_file():
            return [Unit("root", self.name, self.env.region, ROOT_FILE)]
        return units(self.env, read_build(out_dir))

    def destroy(self, out_dir: Path | None = None) -> list[tuple[str, str]]:
        """Delete the root stack, then the companions (the root reads them)."""
        results = []
        for unit in reversed(self.known_units(out_dir)):
            with aws_errors(f"{unit.stack_name} ({unit.region}), deleting"):
                results.append((unit.stack_name, self.aws.deployer(unit.region, self.echo).destroy(unit.stack_name)))
        return results

    def retained(self, out_dir: Path | None = None) -> list[tuple[str, str, str, str, str]]:
        """What a destroy keeps (see `Deployer.retained`), stack name first in each label."""
        kept = []
        for unit in reversed(self.known_units(out_dir)):
            with aws_errors(f"{unit.stack_name} ({unit.region}), listing what a deletion keeps"):
                for label, *rest in self.aws.deployer(unit.region, self.echo).retained(unit.stack_name):
                    kept.append((unit.stack_name if label == "root" else f"{unit.stack_name}/{label}", *rest))
        return kept

    def status(self, out_dir: Path | None = None) -> list[StackReport]:
        reports = []
        for unit in self.known_units(out_dir):
            with aws_errors(f"{unit.stack_name} ({unit.region}), reading its status"):
                reports.append(self.aws.deployer(unit.region, self.echo).report(unit.stack_name, unit.label))
        return reports
