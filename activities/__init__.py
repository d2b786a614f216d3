"""The tools agents call (the demo shop) and their compensations.

Importing this package registers every tool in ``mandate.tools.registry``.
"""

from activities import shop

__all__ = ["shop"]
