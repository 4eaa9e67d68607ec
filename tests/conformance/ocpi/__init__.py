"""OCPI conformance: our app on pytest-django's live server and an independent eMSP peer, over real HTTP."""
