"""E9004: every parameter of a launch form has a description and a label.

A Service Catalog product's template is the form another team fills in, in
their own account, without Strata: a parameter shown by its bare name with
no explanation is a question nobody can answer. The rule applies to every
template marked as a published product (`Metadata.Strata.Catalog:
product`) and to every template that declares an
`AWS::CloudFormation::Interface` (a form that labels some parameters and not
others shows the rest at the bottom, unlabelled). The build labels every
layer template centrally (`generator.cfn.resources.launch_form`), so this
fails only when that step is bypassed or a label is emptied.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

FORM = "AWS::CloudFormation::Interface"


def _is_form(metadata: dict) -> bool:
    strata = metadata.get("Strata") if isinstance(metadata.get("Strata"), dict) else {}
    return FORM in metadata or strata.get("Catalog") == "product"


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


class LaunchForm(CloudFormationLintRule):
    id = "E9004"
    shortdesc = "Launch form parameter without a description or label"
    description = ("Every parameter of a published product (or of a template with an AWS::CloudFormation::Interface) "
                   "has a Description, a label and a parameter group")
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-cloudformation-interface.html"
    tags = ["strata", "catalog", "parameters"]

    def match(self, cfn):
        metadata = cfn.template.get("Metadata") or {}
        if not isinstance(metadata, dict) or not _is_form(metadata):
            return []
        form = metadata.get(FORM) if isinstance(metadata.get(FORM), dict) else {}
        labels = form.get("ParameterLabels") if isinstance(form.get("ParameterLabels"), dict) else {}
        grouped = {
            name for group in form.get("ParameterGroups") or [] if isinstance(group, dict)
            for name in group.get("Parameters") or []
        }
        matches = []
        for name, definition in (cfn.template.get("Parameters") or {}).items():
            problems = []
            if not isinstance(definition, dict) or not _text(definition.get("Description")):
                problems.append("no Description")
            entry = labels.get(name)
            if not (isinstance(entry, dict) and _text(entry.get("default"))):
                problems.append(f"no label in {FORM} ParameterLabels")
            if name not in grouped:
                problems.append(f"no group in {FORM} ParameterGroups")
            if problems:
                matches.append(RuleMatch(
                    ["Parameters", name],
                    f"parameter {name} has {', '.join(problems)}: the launch form would show its bare name",
                ))
        return matches
