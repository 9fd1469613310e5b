"""Web layer: thin blueprints that parse a request, call a service and render a page."""
