"""xai-cli: explain saved machine-learning models from the command line."""

__version__ = "0.1.0"
