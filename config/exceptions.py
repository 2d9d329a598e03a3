"""Errors raised while loading settings."""

from anbu.errors import AnbuError


class ConfigError(AnbuError):
    """A setting is missing or invalid.

    Attributes:
        setting: dotted name of the setting (``kafka.bootstrap_servers``).
        env_var: the environment variable that sets it.
        problem: what is wrong, in one sentence.
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.env_var = "ANBU_" + setting.upper().replace(".", "__")
        self.problem = problem
        super().__init__(f"setting {setting} ({self.env_var}): {problem}")
