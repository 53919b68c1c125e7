"""Fixtures of the Talon.One face tests (defined in ``talon_face``)."""

from talon_face import face

__all__ = ["face"]
