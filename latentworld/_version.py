"""The package version (read by pyproject.toml and ``latentworld --version``)."""

__version__ = "0.1.0"
