"""A question as the cache compares it: pure, no file, database or network access.

`terms` reduces a question to its key terms (normalised, with synonyms, numbers and word forms
made one) and their signature; `check` is the hit check that decides whether a recorded run's
answer may be served for a differently worded question; `keys` are the strings the history keeps
on each run's row so that a lookup is an indexed equality: the question key, the scope key and
the panel key. The history stores the keys; the cache (`tui.cache`) looks runs up by them.
"""
