"""Hostile inputs and faults, tried as an attacker or a careless day would, one file per area.

Each test asserts the outcome the analyst relies on: a clear one-line error (with the exit
status of its kind of failure, README "Exit codes"), or a flagged partial result that names what
is missing, and that no valid record was lost. The catalogue of these cases (input → expected
outcome) is docs/hostile-inputs.md.
"""
