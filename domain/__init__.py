"""The shared core: the types and rules that generation, storage and the service all speak. Pure, no I/O.

`records` (a task about to be stored, its instances, a code proof, a rejection, few-shot examples),
`job_spec` (what a job is asked for, `JobSpec`, with the method configs and rules, and its `JobProgress`),
`imports` (what an import of an open dataset asks for: source, licence, layout, field mapping), `licenses`
(what SPDX licences of a mix allow, and the warnings), `annotations` (a stored task to answer, and its answer),
`fingerprint` (the normal form of an instruction and its exact-duplicate hash), `screening` (the one
duplicate check every new instruction passes: exact, then near; the default near-duplicate threshold), and
`errors` (the domain error tree, mapped to HTTP by `service.errors`). Imports nothing of the project:
`generators`, `store` and `service` import it, and `trainer` does not need it.
"""
