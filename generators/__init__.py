"""Generation: methods that turn an LLM and a pool of tasks into new, screened tasks. No database access.

`engine` (the `CompletionEngine` seam and its OpenAI-compatible client for vLLM servers), `fleet` (the slots of
every endpoint: adaptive limits from `concurrency`, pauses after refusals, jobs' fair shares), `vllm_server` and
`model` (the embedded vLLM server child and the packaged model's conversion), `templating` (the one loader of
the versioned prompt files in `templates/`), `prompts` and `code_prompts` (rendering and parsing), `filters`
(model-free rejection rules), `categories` (labels and category steering), `self_instruct` and `code_tasks`
(one round of each method, returning a `rounds.RoundResult`), `sandbox/` (runs untrusted code), `seeds/`
(packaged seed tasks). Imports `domain` (records, job spec, screening) and nothing else of the project.
"""
