"""One module per MARL library that trains inside a learned env. Each imports its library, so
import the one you use (they are optional extras):

- :mod:`latentworld.integrations.rllib`: env registration and the masked RLModule spec (RLlib);
- :mod:`latentworld.integrations.torchrl`: a native batched TorchRL ``EnvBase`` (TorchRL);
- :mod:`latentworld.integrations.benchmarl`: BenchMARL tasks over learned envs;
- :mod:`latentworld.integrations.epymarl`: EPyMARL's ``MultiAgentEnv``, factory and yaml;
- :mod:`latentworld.integrations.tianshou`: a Tianshou vector env, agents x envs as slots;
- :mod:`latentworld.integrations.sb3`: an SB3 ``VecEnv`` with ``action_masks()`` (MaskablePPO).

Libraries that speak PettingZoo directly (SuperSuit, TorchRL's ``PettingZooWrapper``) take
``latentworld.make(...)`` as it is.
"""
