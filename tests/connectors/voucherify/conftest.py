"""Fixtures of the Voucherify face tests (defined in ``voucherify_face``)."""

from voucherify_face import face

__all__ = ["face"]
