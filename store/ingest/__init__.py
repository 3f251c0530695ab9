"""Records that people bring.

Seed uploads: `formats` parses seed uploads (self-instruct or Alpaca, JSON Lines or a JSON array) into `NewTask`s,
all or nothing; `seeds.ingest_seeds` is the upload use case (parse, report near-duplicates, store).
Imports of open datasets: `readers` streams a file's rows (JSON Lines, a JSON array through ijson, Parquet by
record batches), `detection` finds the layout, `layouts` (with `chats` for ShareGPT / messages turns) turns a
row into a `NewTask`, and `imports.import_file` is the import use case (stream, screen, stage, move, report).
"""
