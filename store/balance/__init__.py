"""Balance of a dataset: `report` (shares, entropy and warnings per category, classification, source, length
band and root verb) and `verbs` (the heuristic root-verb/object parser of the self-instruct paper's analysis).
"""
