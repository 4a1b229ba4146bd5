"""Strata: per-environment parameter files in, linted nested CloudFormation out."""

__version__ = "0.1.0"
