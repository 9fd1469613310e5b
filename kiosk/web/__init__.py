"""Web layer: thin blueprints that parse a request, call a service and render a page.

``app`` builds the participants' portal (gate, portal, survey, booklet, appointment) and the mediators'
dashboard (``dashboard/``); no module here is imported back by what it imports (tests/unit/test_layers.py)."""
