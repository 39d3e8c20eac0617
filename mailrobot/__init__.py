"""mailrobot: the e-mail feedback channel of a contact center."""

__version__ = "0.1.0"
