"""Timerack Bridge: the TempWorks side of the Timerack timeclock integration."""

__all__ = ["__version__"]
__version__ = "0.1.0"
