"""The real environments, each a PettingZoo ParallelEnv behind latentworld's conventions (shipped
as ``latentworld.adapters``; ids resolve through :mod:`latentworld.registry`)."""
