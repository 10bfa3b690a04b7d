"""Tests of torinvest.sources, laid out like the package."""
