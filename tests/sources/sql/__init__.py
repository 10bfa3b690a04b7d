"""Tests of torinvest.sources.sql, one module per module of the package."""
