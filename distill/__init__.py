"""distill: generative models of one person's sound collection.

Importing the package is cheap on purpose: submodules pull in torch, Lightning and friends
only when they are used.
"""

__version__ = "0.1.0"
