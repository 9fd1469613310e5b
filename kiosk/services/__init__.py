"""The kit's rules, shared by the web apps, the CLI and the timers; no Flask here (tests/unit/test_layers.py).

``survey/`` is the questionnaire and what hangs on it (booklet, appointment requests); ``mediation/`` the
mediators' records (outings, activity, tablets, reports); the modules beside them are the network's (access,
association, connections, uplink) and the kit's own (status, clock, auth, privacy, secrets)."""
