"""``python -m bot`` is the ``sorabot`` command."""

from bot.cli import main

raise SystemExit(main())
