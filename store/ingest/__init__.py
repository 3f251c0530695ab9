"""Records that people bring: `formats` parses seed uploads (self-instruct or Alpaca, JSON Lines or a JSON
array) into `NewTask`s, all or nothing; `seeds.ingest_seeds` is the upload use case (parse, report
near-duplicates, store).
"""
