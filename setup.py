"""Package discovery for setuptools (everything else is in pyproject.toml).

Packages are found, not listed, so a new sub-package ships without anyone remembering to add
it. ``adapters/`` sits at the top of the repository but ships inside the wheel as
``latentworld.adapters``: the bare import name ``adapters`` belongs to another PyPI project.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["latentworld", "latentworld.*"])
packages += ["latentworld.adapters"] + [f"latentworld.adapters.{p}" for p in find_packages("adapters")]
setup(packages=packages, package_dir={"latentworld": "latentworld", "latentworld.adapters": "adapters"})
