"""Decontamination: `benchmarks` (the registry of benchmark texts and their word n-gram hashes), `ngrams`
(tokenisation and hashing, pure), `check` (which tasks of a selection share an n-gram with, or contain or are
contained in, a registered benchmark's text).
"""
