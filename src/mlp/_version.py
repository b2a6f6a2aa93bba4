"""The package version (read by the file format, the build report and ``mlp.__version__``)."""
__version__ = "0.1.0"
