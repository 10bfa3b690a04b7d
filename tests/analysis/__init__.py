"""Tests of torinvest.analysis, one module per module of the package."""
