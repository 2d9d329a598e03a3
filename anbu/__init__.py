"""anbu: watch over the homes of people living alone and alert care workers."""

__version__ = "0.1.0"
