"""Snapshots: `snapshot` (select, split, write and record an immutable numbered snapshot), `splits`
(stratified seeded split with no near-duplicate across it, per-category caps), `files` (the data files,
hashes, code tests and LLaMA-Factory entry), `card` (the data card), `readers` (which trainers read each format,
and with what option: the table the data card and the README show).
"""
