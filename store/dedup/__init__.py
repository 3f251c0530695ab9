"""Near-duplicate detection at scale: `near_duplicates` (self-instruct's ROUGE-L rule behind MinHash LSH
candidates, `lsh`, and token-count bounds, `instruction_codes`), `semantic` (an optional embedding tier), and
`screen` (a dataset's fingerprints and index loaded from the store, for `domain.screening.DuplicateScreen`),
`shared_screen` (one screen per dataset kept in the service, caught up with commits) and `screen_file` (a
screen kept on disk between runs, checked against the database when read back).
"""
