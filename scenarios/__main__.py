"""``python -m promoloop.scenarios`` is the ``promoloop`` command."""

from promoloop.scenarios.cli import main

raise SystemExit(main())
