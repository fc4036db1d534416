"""Onboarding: the files that configure a device for the secure network (docs/onboarding.md).

``spec.py`` says what every profile holds; one module per platform writes it in that platform's
format (sans-I/O: bytes in, bytes out). The citizen's pages that offer them come with the routes.
"""
