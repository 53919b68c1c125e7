"""Fixtures of the SendGrid face tests (the world is built in ``sg_world``)."""

from collections.abc import AsyncIterator

import pytest
from sg_world import SgWorld, sendgrid_world


@pytest.fixture
async def sg() -> AsyncIterator[SgWorld]:
    async with sendgrid_world() as world:
        yield world
