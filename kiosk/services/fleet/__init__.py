"""Kits behind 4G: the signed configuration pulled from the hub (``pull``, over ``git``), and the reports
queued on the kit until the hub takes them (``spool``)."""
