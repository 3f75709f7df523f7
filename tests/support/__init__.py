"""Helpers the tests share (factories, databases, servers, reference implementations).

Test modules import from here, never from one another; tests/conftest.py holds only fixtures.
"""
