"""Strata: per-environment parameter files in, linted nested CloudFormation out."""

__version__ = "0.1.0"


def env_files(params_dir="parameters") -> list:
    """Every parameter file (`*.yaml`) in `params_dir`, sorted by name. Kept
    here, free of heavy imports, so `strata build` can find its inputs before
    deciding whether it needs to build at all."""
    from pathlib import Path

    return sorted(Path(params_dir).glob("*.yaml"))
