"""The engine: runs a *sequence* (a named list of steps with run/cleanup) and unwinds it.

It knows nothing about AMIs: `runner` (Step protocol, run_steps, cleanups in reverse), `signals`
(Ctrl-C/SIGTERM in the main thread), `cancel` (cancellation tokens for work in worker threads),
`journal` (what a run created, on disk, for `invoke clean` after a kill), `files` (atomic writes).
Imports nothing from the packages that use it.
"""
