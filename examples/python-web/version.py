# The version string python-web shows; editing it is a process restart.
VERSION = "1.0.0"
