"""The web front end of Sésame: the captive portal citizens see and the admin REST API.

It calls the services of :mod:`accounts` and never reaches into ``radius`` internals. The app is
built by :func:`portal.app.create_app`, which the composition root gives its database sessions.
"""
