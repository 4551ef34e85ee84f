"""greeter: an edge face-recognition greeter robot."""

__version__ = "0.1.0"
