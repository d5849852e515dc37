"""``python -m schemas [DIR]``: export the JSON Schemas (same as ``basketlift schemas export``)."""

from schemas.export import main

raise SystemExit(main())
