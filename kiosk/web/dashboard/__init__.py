"""The mediators' dashboard: ``app`` (guards, login, the status page, ``install``), the pages (``work``: outing,
records, appointments, tablets, sessions; ``reports``; ``la_coop``; ``admin``: clock and data protection), and
what they share: ``common`` (context, page, tr, flash_message), ``formatting``, ``labels`` and ``charts``.
The pages import ``common`` and never ``app``; ``app`` imports the pages to register them."""
