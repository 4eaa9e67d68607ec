"""Tests of the roaming (OCPI) app."""
