"""Tests of the browserbase_c package (see test_package.py)."""
