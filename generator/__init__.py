"""Strata: per-environment parameter files in, linted nested CloudFormation out."""

__version__ = "0.1.0"


def env_files(params_dir="parameters") -> list:
    """Every parameter file (`*.yaml`) in `params_dir`, sorted by name. Kept
    here, free of heavy imports, so `strata build` can find its inputs before
    deciding whether it needs to build at all."""
    from pathlib import Path

    return sorted(Path(params_dir).glob("*.yaml"))


def catalog_history_file(param_file):
    """The catalog's committed version history of an environment:
    `catalog/<env>.versions.json` beside the parameter folder
    (parameters/prod.yaml -> catalog/prod.versions.json). An input of the
    build (the catalog template lists every kept version), written by
    `strata publish`."""
    from pathlib import Path

    param_file = Path(param_file)
    return param_file.parent.parent / "catalog" / f"{param_file.stem}.versions.json"
