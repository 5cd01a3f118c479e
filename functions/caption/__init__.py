"""caption-lambda: image captioning as a serverless function."""

__version__ = "0.1.0"
