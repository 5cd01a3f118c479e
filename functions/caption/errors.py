"""The one error type user-facing code raises: a machine-readable code, a message, a status.

The API turns it into `{"error": {"code", "message"}}` with `status`; the S3 paths log it and
leave the object alone; the CLI prints it.
"""

from __future__ import annotations


class CaptionError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def bad_option(message: str) -> CaptionError:
    return CaptionError(400, "invalid_option", message)


def too_large(message: str, code: str = "payload_too_large") -> CaptionError:
    return CaptionError(413, code, message)


def unsupported_image(message: str, code: str = "unsupported_image") -> CaptionError:
    return CaptionError(415, code, message)


def malformed(message: str) -> CaptionError:
    return CaptionError(422, "malformed_request", message)
